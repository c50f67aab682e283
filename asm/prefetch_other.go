//go:build noasm || !amd64

package asm

import "unsafe"

// prefetchW does nothing where this package has no assembly for it.
func prefetchW(unsafe.Pointer, int) {}

// hasPrefetchW is false: no assembly here.
const hasPrefetchW = false

// prefetch does nothing where this package has no assembly for it.
func prefetch(unsafe.Pointer, int) {}

// hasPrefetch is false: no assembly here.
const hasPrefetch = false

// demote does nothing where this package has no assembly for it.
func demote(unsafe.Pointer, int) {}

// hasDemote is false: no assembly here.
const hasDemote = false
