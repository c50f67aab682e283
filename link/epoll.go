package link

import (
	"golang.org/x/sys/unix"
)

// poller is a thin epoll wrapper: one fd, events keyed by a uint64 token.
// One goroutine blocks in wait; others add and remove fds.
type epoll struct{ fd int }

func newEpoll() (*epoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &epoll{fd}, nil
}

// add watches fd for readability and hang-up, reporting token.
func (e *epoll) add(fd int, token uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR}
	*(*uint64)(unsafePointer(&ev.Fd)) = token
	return unix.EpollCtl(e.fd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (e *epoll) del(fd int) { unix.EpollCtl(e.fd, unix.EPOLL_CTL_DEL, fd, nil) }

// wait blocks for events (ms < 0: no limit) and returns them in evs.
func (e *epoll) wait(evs []unix.EpollEvent, ms int) (int, error) {
	for {
		n, err := unix.EpollWait(e.fd, evs, ms)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// token returns the token of an event.
func token(ev *unix.EpollEvent) uint64 { return *(*uint64)(unsafePointer(&ev.Fd)) }

func (e *epoll) close() { unix.Close(e.fd) }
