package asm

// storeFence does nothing: amd64 keeps stores in order (StoreFence).
func storeFence() {}
