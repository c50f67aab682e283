// Package proc reads what the library needs from /proc/PID/stat: a
// process's state and its start time, by which a pid the kernel has
// given to another process since is told apart (spin's consumer claim,
// link's process domains). Reading costs a few system calls and no
// allocation; parsing treats the line as untrusted.
package proc
