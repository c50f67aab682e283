// Package rundir makes and checks the directories of this uid that the
// library keeps its sockets, topics and counters in: link.Dir and
// link.SharedDir, "topic" and "stat" inside them, and a topic's shared
// directory. Each is created when missing, and refused when it is not a
// directory of this uid that only this uid may read or write — a
// directory someone else can write lets them replace a socket or a
// segment; one someone else can read lists what runs.
//
// A client's side of the same question is CheckServer: whether the
// process listening on a socket it reached may be trusted as the server
// of that directory.
package rundir
