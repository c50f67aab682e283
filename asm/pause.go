package asm

import _ "unsafe" // for go:linkname

// Pause executes one spin-wait hint: PAUSE on amd64, ISB SY on arm64, and
// runtime.procyield(1) elsewhere or with the noasm tag.
//
// Cost on the development host (Sapphire Rapids VM): ≈ 18 ns per call
// (medians of 6 runs of BenchmarkPause in two sessions: 17.7 and 18.6 ns;
// runtime.procyield(1), the noasm version, 19.4 and 19.9 ns), almost all
// of it the PAUSE itself. PAUSE latency differs widely between
// microarchitectures (an earlier Zen 4 VM measured ≈ 27 ns): re-measure on
// the target before tuning spin counts.
//
// Pause has no memory-ordering effect. It lowers the power and the
// memory-order-violation flush cost of a spin loop and yields pipeline
// resources to an SMT sibling. It is not a preemption point: the load and the
// compare of a spin loop belong in Go, one Pause per idle iteration:
//
//	for atomic.LoadUint64(&seq) == last {
//		asm.Pause()
//	}
func Pause() { pauseAsm() }

// Spin executes n spin-wait hints (n Pause calls in one assembly loop, like
// runtime.procyield); n ≤ 0 returns at once.
//
// Cost on the development host: Spin(10) ≈ 137 ns (medians of 6: 137 and
// 139 ns; the noasm version, ten runtime.procyield(1) calls, 194 ns). Time inside Spin is not an
// async-preemption point (it is NOSPLIT assembly), so keep n small — tens,
// not thousands — and do the waiting loop's compare in Go.
func Spin(n int) {
	if n > 0 {
		spinAsm(n)
	}
}

// pauseGeneric is the reference for pauseAsm: the Go runtime's own spin hint.
func pauseGeneric() { procyield(1) }

// spinGeneric is the reference for spinAsm.
func spinGeneric(n int) {
	for range n {
		procyield(1)
	}
}

// procyield is the runtime's spin-wait hint loop (PAUSE on amd64, ISB on
// arm64 since Go 1.26). It is push-linknamed by the runtime (go.dev/issue/67401),
// so pulling it here is sanctioned; its argument is a count of hints
// (on arm64, a delay in nanoseconds, of which 1 means one ISB).
//
//go:linkname procyield runtime.procyield
//go:noescape
func procyield(cycles uint32)
