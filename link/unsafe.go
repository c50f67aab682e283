package link

import "unsafe"

// unsafePointer converts a pointer to the start of EpollEvent's 8-byte data
// union (x/sys names its first half Fd and the second Pad).
func unsafePointer(p *int32) unsafe.Pointer { return unsafe.Pointer(p) }
