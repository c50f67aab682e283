//go:build !noasm

package asm

// loadAcquire64 is one LDAR. Body: atomic_arm64.s; reference:
// sync/atomic.LoadUint64, which is the same LDAR.
//
//go:noescape
func loadAcquire64(p *uint64) uint64

// storeRelease64 is one STLR. Body: atomic_arm64.s; reference:
// sync/atomic.StoreUint64, which is the same STLR.
//
//go:noescape
func storeRelease64(p *uint64, v uint64)

// storeReleaseMOV is false: sync/atomic.StoreUint64 is already one STLR,
// inlined, so StoreRelease64 uses it.
const storeReleaseMOV = false
