// Package asm holds the CPU primitives Go has no word for, each kept only
// where a benchmark of this package showed it beating what Go already has
// (each doc comment names the benchmark and gives its figures):
//
//   - Pause and Spin: the spin-wait hint (PAUSE on amd64, ISB on arm64) for
//     busy-poll loops whose load and compare stay in Go;
//   - Ticks, TicksP, TicksPerSecond, TicksToNanos: an ordered time-stamp
//     counter read (RDTSCP, or LFENCE;RDTSC without it; TicksP adds the CPU
//     number; CNTVCT_EL0 on arm64) and its rate, so a message path can time
//     itself without time.Now; InvariantTSC and ClockSource say what Ticks
//     reads and why, and it falls back to the monotonic clock when the TSC
//     is not invariant;
//   - StoreRelease64: a release store that on amd64 is a plain MOV,
//     inlined, instead of sync/atomic's XCHG — three to four times the
//     producer throughput of a one-way stream; SeqWrite, a seqlock
//     record's withdrawal, copy and publication (and a tail's) in one call
//     of plain MOVs, instead of three StoreRelease64 calls around a copy;
//     StoreFence, which keeps later stores after earlier ones where the
//     CPU would not (DMB ISHST on arm64; nothing on amd64): kept for
//     correctness, not speed, as no pure-Go code gives that order;
//   - Copy: the builtin copy with AVX-512 (or AVX2) moves for the sizes,
//     129 B to 4 KiB, where that beat runtime.memmove, and with REP MOVSB
//     from 1000 B on CPUs with ERMS and AVX-512, which beat the vector
//     moves between two CPUs. On arm64 the NEON
//     routine is built and tested (under qemu-user) but has not been timed
//     on hardware, so Copy is the builtin copy there;
//   - CopyLine: the builtin copy for payloads of 32 to 64 bytes as inlined
//     word moves, so a producer loop that claims and fills byte records
//     makes no call to copy them (pure Go, but here because it is Copy's
//     sibling: it never takes Copy's vector paths);
//   - PrefetchW: PREFETCHW over a stretch of lines a producer is about to
//     write, so their ownership moves before its stores wait for it (a Log
//     producer's next batch; no reference: elsewhere it does nothing);
//     Prefetch: PREFETCHT0 over published lines a consumer is about to
//     read, so several cross at once (a Cursors Ring's or a Log's
//     consumer that runs behind; likewise); Demote: CLDEMOTE over lines
//     just published, so that the reader takes them from the shared L3
//     (spin.Ring.SetDemote, for round trips of messages of several
//     lines; nothing on CPUs without it);
//   - CPUID: the raw instruction on amd64, which Go does not expose (HasCPUID
//     says whether this build has it), for the bits this package's own
//     choices need: invariant TSC and RDTSCP for the clock, PRFCHW for
//     PrefetchW, the vendor for Copy's REP MOVSB threshold (isAMD).
//     Describing the processor is package tuning's job
//     (github.com/klauspost/cpuid/v2).
//
// Measured and dropped: a load-acquire (sync/atomic.LoadUint64 is already an
// inlined plain MOV on amd64 and LDAR on arm64), and the vector copy below
// 129 bytes (runtime.memmove takes its arguments in registers; an assembly
// function cannot).
//
// # Layout
//
// Each routine has its assembly in name_amd64.s / name_arm64.s, a
// declaration-only name_amd64.go / name_arm64.go, and a pure-Go reference
// (pauseGeneric, ticksGeneric, copyGeneric…) in an untagged file compiled
// everywhere. The build tag noasm, or another GOARCH, selects the references
// through name_other.go (CPUID has no reference: cpuid_other.go returns
// zeros). Choices that depend on the CPU are made once at init into package
// variables that the tests swap (setClock, setCopy) to test every path on
// one machine: AVX-512 or AVX2 from golang.org/x/sys/cpu (which also checks
// that the OS saves the vector state), invariant TSC and RDTSCP from CPUID.
//
// # Measuring
//
// The figures in doc comments were measured on a 2-vCPU Sapphire Rapids VM
// shared with other builds: medians of 6 or more runs of the named
// benchmark, noisy to ±10 % or worse; where a range is given, it spans the
// medians of separate runs. docs/benchmarks.md keeps the dated runs.
// Re-measure with
//
//	go test -run '^$' -bench . -count 6 ./asm
//
// and compare medians (golang.org/x/perf/cmd/benchstat).
package asm
