package restartbench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// proc is a child process, the lines it prints and its log.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	conns int
	pid   int
	log   *logFile // closed once read (ledger)
	index int      // a client's incarnation (Req.Proc)
}

// start spawns a child in role — client incarnation index with conns
// connections, or a server — with a new log as its descriptor 3, and
// starts reading its lines.
func (cfg *Config) start(role string, conns, index int) (*proc, error) {
	magic, capacity := uint64(execMagic), maxLogRecords
	if role == "client" {
		magic, capacity = callMagic, min(conns*callsPerConn, maxLogRecords)
	}
	lg, err := newLogFile(magic, capacity)
	if err != nil {
		return nil, err
	}
	p, err := cfg.spawn(role, conns, index, lg)
	if err != nil {
		lg.close()
		return nil, err
	}
	lg.handedOver()
	return p, nil
}

// spawn starts the child of start with lg as its descriptor 3.
func (cfg *Config) spawn(role string, conns, index int, lg *logFile) (*proc, error) {
	cmd := cfg.Spawn([]string{envRole + "=" + role, envName + "=" + cfg.Name, envDir + "=" + cfg.Dir,
		envConns + "=" + strconv.Itoa(conns), envThink + "=" + cfg.Think.String(),
		envProc + "=" + strconv.Itoa(index), envTimeout + "=" + cfg.callTimeout().String()})
	if len(cmd.ExtraFiles) != 0 {
		return nil, fmt.Errorf("restartbench: Spawn's command passes descriptors of its own; the log must be descriptor %d", logFd)
	}
	cmd.ExtraFiles = []*os.File{lg.f}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 4096), conns: conns, pid: cmd.Process.Pid, log: lg, index: index}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p, nil
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// exit waits for p, which was told to stop, to exit: up to timeout, then
// it kills p. It reports whether p exited by itself.
func (p *proc) exit(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-done
		return false
	}
}

// expect waits for a line starting with word and returns its fields.
func (p *proc) expect(word string, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return nil, fmt.Errorf("process %d exited before %s", p.pid, word)
			}
			if f := strings.Fields(l); len(f) > 0 && f[0] == word {
				return f[1:], nil
			}
		case <-t.C:
			return nil, fmt.Errorf("process %d: no %s within %v", p.pid, word, timeout)
		}
	}
}

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
