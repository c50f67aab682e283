//go:build noasm || (!amd64 && !arm64)

package asm

import "sync/atomic"

// loadAcquire64 is sync/atomic where this package has no assembly.
func loadAcquire64(p *uint64) uint64 { return atomic.LoadUint64(p) }

// storeRelease64 is sync/atomic where this package has no assembly.
func storeRelease64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// storeReleaseMOV is false: no assembly here.
const storeReleaseMOV = false
