// Package echo is the server side of `pingpong -mode conns`: a link server
// that echoes every request, and the main of cmd/linkecho.
//
// It is its own package, apart from connbench (the client side), so that
// the server's binary links only what a link server needs: no flag, fmt or
// statistics code. The benchmark reports the server's VmRSS, and every
// package in the binary costs resident pages — the kernel maps the 64 KiB
// around each page of a binary that a process touches (fault-around), so a
// package's code is resident as soon as a neighbour of it runs.
package echo
