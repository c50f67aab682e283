// Package layout owns shared memory: segments, their header, and typed access
// to fixed-layout structs placed in them.
//
// A Segment is a memfd sealed against shrinking and growing, so no peer can
// truncate it under a reader and cause SIGBUS, mapped
// MAP_SHARED|MAP_POPULATE. It is shared by passing its descriptor
// (SCM_RIGHTS, or a child's ExtraFiles), or by name: Create publishes a
// named segment as a link in /dev/shm to the creator's descriptor, and Open
// reaches the same memfd through it (named.go). Every segment starts with a
// Header (see header.go for the diagram); Open and OpenFd read and check
// it, and the file's size against Options.MaxLength, before they map
// anything, and refuse a segment whose magic, version, length or layout
// fingerprint is wrong, or a file without the seals. A segment whose
// creator has not finished its header is waited for briefly
// (Options.ReadyWait), then refused with ErrNotReady.
//
// Of[T] validates once, through reflect, that T can live in shared memory —
// no pointers at any depth, explicit padding, a size that is a multiple of 8
// and an alignment of at most 64 — and returns its Schema, whose Fingerprint
// peers compare before they exchange a single message. ours.Diff(theirs)
// returns a *MismatchError naming the first field that differs and how each
// side has it, the receiver's side as "here" and the argument's as "at the
// peer".
//
// Everything read from a segment another process can write is untrusted:
// functions here return errors, never panic, on any value found there.
package layout
