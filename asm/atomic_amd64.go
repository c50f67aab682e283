//go:build !noasm

package asm

// loadAcquire64 is one MOVQ load: under x86-TSO every load is an acquire.
// Body: atomic_amd64.s; reference: sync/atomic.LoadUint64.
//
//go:noescape
func loadAcquire64(p *uint64) uint64

// storeRelease64 is one MOVQ store: under x86-TSO every store is a release.
// Body: atomic_amd64.s; reference: sync/atomic.StoreUint64 (XCHGQ).
// StoreRelease64 was this call; it is now the same MOVQ inlined, and this
// stays as the assembly side of BenchmarkPublish and BenchmarkStoreRelease.
//
//go:noescape
func storeRelease64(p *uint64, v uint64)

// storeReleaseMOV: StoreRelease64 is a plain MOVQ (see its doc).
const storeReleaseMOV = true
