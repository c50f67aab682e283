package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// runRound runs one round of one transport: open, start the peer, warm up,
// measure, stop, reap. A watchdog aborts the round when the peer dies or
// stops answering for -timeout.
func runRound(name string, c *config, pl plan, st *roundState, current *atomic.Pointer[exec.Cmd]) (sample, error) {
	n := 0
	if pl.perN > 0 {
		n = c.perRound()
	}
	if name == "floor-c" {
		if n == 0 {
			n = int(min(max(pl.budget.Seconds()*1e6, 1e4), 1e8))
		}
		return runFloor(c, n)
	}
	p, err := startRound(name, c, st, current)
	if err != nil {
		return sample{}, err
	}
	defer p.close()
	if err := p.awaitReady(); err != nil {
		return sample{}, err
	}
	s, err := drive(c, p.e, n, pl.budget, st)
	if err != nil {
		return s, p.explain(err)
	}
	return s, p.finish(&s)
}

// peerRound is a round's parent end, its peer process and the watchdog
// that reaps the peer.
type peerRound struct {
	c        *config
	e        end
	cmd      *exec.Cmd
	report   *os.File
	reports  *reportReader
	st       *roundState
	current  *atomic.Pointer[exec.Cmd]
	stopping atomic.Bool // the peer has been told to stop: its exit is no failure
	exitc    chan error  // the peer's exit status, from the watchdog
	quit     chan struct{}
	reaped   bool
}

// startRound opens transport name, starts its peer over the files it
// shares, and the watchdog.
func startRound(name string, c *config, st *roundState, current *atomic.Pointer[exec.Cmd]) (*peerRound, error) {
	e, files, err := transports[name].open(c)
	if err != nil {
		return nil, err
	}
	cmd, report, err := startPeer(name, c, files)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		e.stop()
		return nil, err
	}
	p := &peerRound{c: c, e: e, cmd: cmd, report: report, reports: newReportReader(report), st: st, current: current,
		exitc: make(chan error, 1), quit: make(chan struct{})}
	current.Store(cmd)
	go watch(c, cmd, e, st, &p.stopping, p.exitc, p.quit)
	return p, nil
}

// close ends the watchdog, kills the peer unless it was reaped, and closes
// the report pipe.
func (p *peerRound) close() {
	close(p.quit)
	if !p.reaped {
		p.cmd.Process.Kill()
		<-p.exitc
	}
	p.current.Store(nil)
	p.report.Close()
}

// kill kills the peer and returns its exit status.
func (p *peerRound) kill() error {
	p.cmd.Process.Kill()
	p.reaped = true
	return <-p.exitc
}

// awaitReady waits for the peer to be up and serving: no round times its
// start-up (exec, runtime, TSC calibration, mapping), which would
// otherwise land in a throughput round's elapsed time or, in rate mode,
// pile up messages that are already due.
func (p *peerRound) awaitReady() error {
	readyc := make(chan bool, 1)
	go func() {
		rep, ok := p.reports.next()
		readyc <- ok && rep.Ready
	}()
	select {
	case ok := <-readyc:
		if !ok {
			return fmt.Errorf("peer did not start serving (peer: %v)", p.kill())
		}
		return nil
	case <-time.After(p.c.Timeout):
		return errors.New("peer did not start serving within -timeout")
	}
}

// explain kills the peer after the measuring loop failed with err, and
// adds the peer's own words, which explain more than our timeout does.
func (p *peerRound) explain(err error) error {
	if werr := p.kill(); werr != nil && !strings.Contains(werr.Error(), "killed") {
		return fmt.Errorf("%w (peer: %v)", err, werr)
	}
	return err
}

// finish tells the peer to stop, reaps it and reads the CPUs it reported.
func (p *peerRound) finish(s *sample) error {
	p.st.beat.Add(1)
	p.stopping.Store(true)
	if err := p.e.stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	select {
	case werr := <-p.exitc:
		p.reaped = true
		if werr != nil {
			return fmt.Errorf("peer: %w", werr)
		}
	case <-time.After(p.c.Timeout):
		return errors.New("peer did not exit")
	}
	if rep, ok := p.reports.next(); ok {
		s.cpus[2], s.cpus[3] = rep.CPUStart, rep.CPUEnd
		s.drains = rep.Drains
	}
	return nil
}

// watch reaps the peer (its exit status goes to exitc) and aborts the end
// when the peer fails, or exits before it was told to stop, or when the
// round (or its stop) makes no progress for -timeout (then it kills the
// peer first). A throughput round's stream is one call with its own
// timeouts: only its stop is watched for progress.
func watch(c *config, cmd *exec.Cmd, e end, st *roundState, stopping *atomic.Bool, exitc chan<- error, quit <-chan struct{}) {
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	tick := time.NewTicker(c.Timeout)
	defer tick.Stop()
	last := st.beat.Load()
	for {
		select {
		case err := <-waitc:
			if err != nil || !stopping.Load() {
				if a, ok := e.(aborter); ok {
					a.abort()
				}
			}
			exitc <- err
			return
		case <-tick.C:
			b := st.beat.Load()
			if b == last && (c.Mode != "throughput" || stopping.Load()) {
				cmd.Process.Kill() // the exit aborts the end
			}
			last = b
		case <-quit:
			// The round is over; keep reaping so exitc is always filled.
			tick.Stop()
			quit = nil
		}
	}
}
