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

// proc is a child process and the lines it prints.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	conns int
	pid   int
}

// start spawns a child in role with conns connections (clients) and
// starts reading its lines.
func (cfg *Config) start(role string, conns int) (*proc, error) {
	cmd := cfg.Spawn([]string{envRole + "=" + role, envName + "=" + cfg.Name, envDir + "=" + cfg.Dir,
		envConns + "=" + strconv.Itoa(conns), envThink + "=" + cfg.Think.String()})
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
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 4096), conns: conns, pid: cmd.Process.Pid}
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
