package asm

import _ "unsafe" // for go:linkname

// Pause executes one spin-wait hint: PAUSE on amd64, ISB SY on arm64, and
// runtime.procyield(1) elsewhere or with the noasm tag.
//
// Cost: ≈ 18 ns per call on the Sapphire Rapids VM of the package
// documentation (BenchmarkPause/impl=asm, 17.7–18.6 ns; impl=generic,
// runtime.procyield(1) as with noasm, 19.4–19.9 ns), almost all of it the
// PAUSE itself. PAUSE latency differs widely between microarchitectures
// (BenchmarkPause/impl=asm gave ≈ 27 ns on a Zen 4 VM): re-measure on the
// target before tuning spin counts.
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
// Cost: Spin(10) ≈ 137–139 ns on the Sapphire Rapids VM
// (BenchmarkSpin/impl=asm/n=10; impl=generic/n=10, ten runtime.procyield(1)
// calls as with noasm, 194 ns). Time inside Spin is not an async-preemption
// point (it is NOSPLIT assembly), so keep n small — tens, not thousands —
// and do the waiting loop's compare in Go.
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
