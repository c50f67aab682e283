package link

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The death watch: one epoll loop per process, on a goroutine, watching
// every client socket. The kernel closes a socket when the process at the
// other end dies, so the flag flips within the wake-up time of this
// goroutine (microseconds), and callers see ErrPeerGone. A server's
// liveness page (liveness.go) can bring the news sooner: livenessDied.
var death struct {
	once    sync.Once
	ep      *epoll
	err     error
	page    *ownerPage // this process's liveness page (nil: none)
	mu      sync.Mutex
	flags   map[int]watched
	scratch []watched // livenessDied's list, reused
}

type watched struct {
	flag    *atomic.Bool
	onDeath func()
	live    *clientLiveness // the server's liveness page, or nil
	fd      int             // livenessDied's note
}

// watchDeath sets flag and then calls onDeath (which must not block) when
// fd's peer closes or dies, or when live (if not nil) says it died.
func watchDeath(fd int, flag *atomic.Bool, onDeath func(), live *clientLiveness) error {
	if err := startDeathWatch(); err != nil {
		return err
	}
	death.mu.Lock()
	death.flags[fd] = watched{flag: flag, onDeath: onDeath, live: live}
	death.mu.Unlock()
	return death.ep.add(fd, uint64(fd))
}

func unwatchDeath(fd int) {
	if death.ep == nil {
		return
	}
	death.mu.Lock()
	delete(death.flags, fd)
	death.mu.Unlock()
	death.ep.del(fd)
}

// startDeathWatch starts the process's death watch once: its epoll, its
// liveness page and the goroutine whose thread owns that page.
func startDeathWatch() error {
	death.once.Do(func() {
		death.ep, death.err = newEpoll()
		death.flags = map[int]watched{}
		if death.err == nil {
			death.page = newOwnerPage("spinwire-client-liveness")
			owned := make(chan struct{})
			go deathLoop(owned)
			<-owned
		}
	})
	return death.err
}

// ownPageFd is the fd of this process's liveness page for a hello, or -1.
func ownPageFd() int {
	if death.page == nil {
		return -1
	}
	return death.page.fd
}

// deathLoop is the death watch. Its thread, locked and never released,
// owns the process's liveness page: servers read there that this process
// died as soon as this thread is gone — before the process's sockets close.
func deathLoop(owned chan<- struct{}) {
	runtime.LockOSThread()
	death.page.own()
	defer death.page.disown() // an epoll failure is not this process's death
	close(owned)
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := death.ep.wait(evs, -1)
		if err != nil {
			return
		}
		death.mu.Lock()
		for i := range n {
			fd := int(token(&evs[i]))
			if w, ok := death.flags[fd]; ok {
				fire(fd, w)
			} else {
				death.ep.del(fd) // unwatched meanwhile: HUP is level-triggered
			}
		}
		death.mu.Unlock()
	}
}

// livenessDied ends every attachment whose server's liveness page says its
// poller died: the same as their sockets closing, only sooner. Every flag
// is set before the first onDeath runs (a caller spinning on another
// attachment stops at once), and the epoll registrations go last.
func livenessDied(l *clientLiveness) {
	death.mu.Lock()
	defer death.mu.Unlock()
	gone := death.scratch[:0]
	for fd, w := range death.flags {
		if w.live == l {
			delete(death.flags, fd)
			// SYNC: as in fire.
			w.flag.Store(true)
			w.fd = fd
			gone = append(gone, w)
		}
	}
	for _, w := range gone {
		if w.onDeath != nil {
			w.onDeath()
		}
	}
	for _, w := range gone {
		death.ep.del(w.fd)
	}
	clear(gone)
	death.scratch = gone[:0]
}

// fire reports fd's death once. Called with death.mu held.
func fire(fd int, w watched) {
	delete(death.flags, fd)
	death.ep.del(fd)
	// SYNC: the flag first (callers poll it with an atomic load), so a
	// redial that finishes meanwhile sees it.
	w.flag.Store(true)
	if w.onDeath != nil {
		w.onDeath()
	}
}
