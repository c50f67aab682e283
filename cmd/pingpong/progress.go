package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws one line on stderr, rewritten in place, once a run has
// taken more than progressAfter: round, transport, share of the round
// done, time so far. It is off when stderr is not a terminal or with
// -quiet; it never touches the measuring threads beyond two atomic loads.
type progress struct {
	w      io.Writer
	on     bool
	pl     plan
	rounds int
	start  time.Time

	mu      sync.Mutex
	round   int
	index   int
	name    string
	st      *roundState
	stop    chan struct{}
	exited  chan struct{}
	stopped sync.Once
	drawn   bool
}

var progressAfter = 2 * time.Second // a variable for tests

func newProgress(w io.Writer, on bool, pl plan, rounds int) *progress {
	p := &progress{w: w, on: on, pl: pl, rounds: rounds, start: time.Now(), stop: make(chan struct{}), exited: make(chan struct{}), st: &roundState{}}
	if on {
		go p.loop()
	} else {
		close(p.exited)
	}
	return p
}

// begin notes the round about to run and returns its shared state.
func (p *progress) begin(round, index int, name string) *roundState {
	st := &roundState{}
	p.mu.Lock()
	p.round, p.index, p.name, p.st = round, index, name, st
	p.mu.Unlock()
	return st
}

func (p *progress) loop() {
	defer close(p.exited)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if time.Since(p.start) >= progressAfter {
				p.draw()
			}
		}
	}
}

// line is the progress text.
func (p *progress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("pingpong: round %d/%d, %s (%d/%d)", p.round+1, p.rounds, p.name, p.index+1, len(p.pl.names))
	done := p.st.done.Load()
	if p.pl.perN > 0 && done > 0 {
		s += fmt.Sprintf(", %d%% of %d", min(100, 100*done/int64(p.pl.perN)), p.pl.perN)
	} else if done > 0 {
		s += fmt.Sprintf(", %d measured", done)
	} else {
		s += ", warming up"
	}
	return s + fmt.Sprintf(", %.0fs", time.Since(p.start).Seconds())
}

func (p *progress) draw() {
	l := p.line()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%s\x1b[K", l)
	p.drawn = true
}

// clear rubs the line out (if drawn) so a note can be printed; the next
// tick draws it again.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// finish stops the line and clears it.
func (p *progress) finish() {
	p.stopped.Do(func() {
		close(p.stop)
		<-p.exited
		p.mu.Lock()
		drawn := p.drawn
		p.mu.Unlock()
		if drawn {
			fmt.Fprint(p.w, "\r\x1b[K")
		}
	})
}
