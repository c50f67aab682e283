//go:build !noasm

package asm

import "unsafe"

// prefetchW issues PREFETCHW for each 64-byte line of [p, p+n), n > 0.
// Body: prefetch_amd64.s.
//
//go:noescape
func prefetchW(p unsafe.Pointer, n int)

// prefetch issues PREFETCHT0 for each 64-byte line of [p, p+n), n > 0.
// Body: prefetch_amd64.s. Every amd64 CPU has it (SSE).
//
//go:noescape
func prefetch(p unsafe.Pointer, n int)

// hasPrefetch: PREFETCHT0 is part of SSE, which every amd64 CPU has.
const hasPrefetch = true

// hasPrefetchW: CPUID.80000001H:ECX bit 8 (PRFCHW), which AMD CPUs and
// Intel's since Broadwell report.
var hasPrefetchW = func() bool {
	if max, _, _, _ := CPUID(0x80000000, 0); max < 0x80000001 {
		return false
	}
	_, _, ecx, _ := CPUID(0x80000001, 0)
	return ecx&(1<<8) != 0
}()

// demote issues CLDEMOTE for each 64-byte line of [p, p+n), n > 0.
// Body: prefetch_amd64.s.
//
//go:noescape
func demote(p unsafe.Pointer, n int)

// hasDemote: CPUID.(EAX=7,ECX=0):ECX bit 25 (CLDEMOTE).
var hasDemote = func() bool {
	if max, _, _, _ := CPUID(0, 0); max < 7 {
		return false
	}
	_, _, ecx, _ := CPUID(7, 0)
	return ecx&(1<<25) != 0
}()
