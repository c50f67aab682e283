// Package hello holds the example of the repository's README: a link
// server and a client in one process, exchanging one fixed-layout request
// and its response through shared memory. Its test keeps the README's
// snippet identical to the example, so the README shows code that compiles
// and runs.
package hello
