# spinwire — build, test and benchmark.
#
#   make pingpong   the main job: build and run the cross-process ping-pong
#   make test       gofmt, vet and staticcheck (with and without noasm), -race,
#                   noasm, coverage gate
#   make streams    this host's stream table against the C floor (about 80 s)
#   make roundtrips this host's round trips against the C floor (about 25 s)
#
# Everything here needs only Go 1.26 and gcc; modules come through the
# module proxy configured in the environment.

GO        ?= go
PKGS      ?= ./...
COVER_MIN ?= 80
BUILD     ?= build
FUZZTIME  ?= 10s
PINGPONG_ARGS ?= -transport spinwire,raw,uds,uds-net

.PHONY: all test fmt-check vet lint race noasm cover cover-gate one-cpu arm64 bench fuzz cross pingpong pingpong-build streams roundtrips floor clean

all: test

## test: the project's own checks; the last line printed is the coverage total.
test: fmt-check vet lint race noasm cover-gate

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './$(BUILD)/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## vet: with the msgfmt tag, internal/msg's Errorf, Sprintf and Appendf
## forward to fmt, so vet's printf check also checks the library's own
## format strings (see internal/msg's package comment).
vet:
	$(GO) vet -tags msgfmt $(PKGS)
	$(GO) vet -tags noasm,msgfmt $(PKGS)

## lint: staticcheck, pinned as a tool in go.mod (go tool fetches it
## through the module proxy the first time), with and without noasm.
lint:
	$(GO) tool staticcheck $(PKGS)
	$(GO) tool staticcheck -tags noasm $(PKGS)

race:
	$(GO) test -race -count=1 -short $(PKGS)

noasm:
	$(GO) test -tags noasm -count=1 -short $(PKGS)

$(BUILD):
	mkdir -p $(BUILD)

## cover: statement coverage over the whole module (every package's tests
## count towards every package they exercise).
cover: | $(BUILD)
	$(GO) test -count=1 -coverpkg=$(PKGS) -coverprofile=$(BUILD)/cover.out $(PKGS)
	$(GO) tool cover -func=$(BUILD)/cover.out | tail -1

cover-gate: cover
	@total=$$($(GO) tool cover -func=$(BUILD)/cover.out | awk '/^total:/ {sub("%","",$$3); print $$3}'); \
	if awk -v t="$$total" -v m="$(COVER_MIN)" 'BEGIN {exit !(t+0 < m+0)}'; then \
		echo "coverage $$total% is below $(COVER_MIN)%"; exit 1; fi; \
	echo "coverage: $$total% of statements (gate $(COVER_MIN)%)"

## one-cpu: the tests with one CPU allowed (taskset, from util-linux), as
## on a small container or a host whose other CPU is busy: every wait in
## a test must let the other side run. Not part of make test.
one-cpu:
	taskset -c 0 $(GO) test -count=1 -short $(PKGS)

## arm64: every test, short, built for arm64 (with and without noasm) and
## run under qemu-user, which must be installed and registered with the
## kernel's binfmt_misc so that the tests' child processes run too
## (Debian: apt-get install qemu-user qemu-user-binfmt; or as root, write
## the qemu-aarch64 line to /proc/sys/fs/binfmt_misc/register). The
## emulator checks what the code does on arm64, not its speed nor its
## memory ordering. Not part of make test.
arm64:
	@test -e /proc/sys/fs/binfmt_misc/qemu-aarch64 || \
		{ echo "make arm64: qemu-aarch64 is not registered in /proc/sys/fs/binfmt_misc (see the Makefile)"; exit 1; }
	GOARCH=arm64 $(GO) test -count=1 -short $(PKGS)
	GOARCH=arm64 $(GO) test -count=1 -short -tags noasm $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: each fuzz target for $(FUZZTIME).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
			echo "fuzz $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

cross:
	GOOS=linux GOARCH=amd64 $(GO) build $(PKGS)
	GOOS=linux GOARCH=amd64 $(GO) build -tags noasm $(PKGS)
	GOOS=linux GOARCH=arm64 $(GO) build $(PKGS)
	GOOS=linux GOARCH=arm64 $(GO) build -tags noasm $(PKGS)
	GOOS=linux GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=linux GOARCH=arm64 $(GO) test -c -o /dev/null ./asm

## floor: the C programs that give the physical floor (needs gcc).
floor: | $(BUILD)
	cc -O2 -Wall -o $(BUILD)/floor_pingpong floor/floor_pingpong.c
	cc -O2 -Wall -o $(BUILD)/floor_stream floor/floor_stream.c
	cc -O2 -Wall -pthread -o $(BUILD)/floor_death floor/floor_death.c

## pingpong: build the floor, pingpong and its conns-mode server (linkecho,
## which pingpong finds next to itself), then run the comparison.
pingpong: pingpong-build
	$(BUILD)/pingpong -floor $(BUILD) $(PINGPONG_ARGS)

pingpong-build: floor | $(BUILD)
	$(GO) build -o $(BUILD)/pingpong ./cmd/pingpong
	$(GO) build -o $(BUILD)/linkecho ./cmd/linkecho

## streams: this host's stream table, every size, protocol and batch
## against the C floor (pingpong -mode streams; about 80 s).
streams: pingpong-build
	$(BUILD)/pingpong -mode streams -floor $(BUILD)

## roundtrips: this host's round trip at 64, 256 and 1024 bytes against
## the C floor moving the same payload, three runs of three rounds each
## (about 25 s): each run's p50s and spinwire's ratio to the floor's.
roundtrips: pingpong-build
	@for s in 64 256 1024; do for run in 1 2 3; do \
		out=$$($(BUILD)/pingpong -floor $(BUILD) -transport spinwire -size $$s -rounds 3 -json -quiet) || exit 1; \
		sw=$$(echo "$$out" | grep '"transport":"spinwire"' | grep -o '"p50_ns":[0-9]*' | cut -d: -f2); \
		fl=$$(echo "$$out" | grep '"transport":"floor-c"' | grep -o '"p50_ns":[0-9]*' | cut -d: -f2); \
		awk -v s=$$s -v r=$$run -v a=$$sw -v b=$$fl 'BEGIN { \
			printf "%4d B  run %d  p50 spinwire %5d ns, floor %5d ns: %.2f x the floor\n", s, r, a, b, a / b }'; \
	done; done

clean:
	rm -rf $(BUILD)
