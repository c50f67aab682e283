package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// demo runs the publisher in this process and cfg.subs subscribers in
// processes of their own — this program, re-executed with "subscribe" —
// the last of them slow (-slow), once per policy of cfg.policies. The
// children are started from the main goroutine, whose thread is locked but
// never pinned, so they start with the process's full CPU mask (a child
// inherits the mask of the thread that forks it).
func demo(ctx context.Context, cfg pubConfig, stdout, stderr io.Writer) error {
	for i, pol := range cfg.policies {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "feed demo: %s, %d subscriber(s)%s\n", pol, cfg.subs, slowNote(cfg))
		c := cfg
		c.policy = pol
		if err := demoRound(ctx, c, stdout, stderr); err != nil || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

func slowNote(cfg pubConfig) string {
	if cfg.subs < 2 || cfg.slow == 0 {
		return ""
	}
	return fmt.Sprintf(", the last spending %v on each tick", cfg.slow)
}

// demoRound is one policy's run: start the subscribers, publish, and wait
// for them to print their totals.
func demoRound(ctx context.Context, cfg pubConfig, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	for i := range cfg.subs {
		cmd := exec.CommandContext(ctx, exe, subscriberArgs(cfg, i)...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// On Ctrl-C the terminal signals every process; if ctx ends some
		// other way, pass the interrupt on so each still prints its totals.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 3 * time.Second // then it is killed
		if err := cmd.Start(); err != nil {
			stopAll(cmds)
			return fmt.Errorf("starting subscriber %d: %w", i+1, err)
		}
		cmds = append(cmds, cmd)
	}
	_, perr := publish(ctx, cfg, stdout, stderr)
	if perr != nil {
		stopAll(cmds)
	}
	var werr error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil && werr == nil && ctx.Err() == nil {
			werr = fmt.Errorf("subscriber %d: %w", i+1, err)
		}
	}
	if perr != nil {
		return perr
	}
	return werr
}

// subscriberArgs is the command line of subscriber i (of cfg.subs; the
// last one is slow when there are several).
func subscriberArgs(cfg pubConfig, i int) []string {
	label := "sub " + strconv.Itoa(i+1)
	slow := time.Duration(0)
	if i == cfg.subs-1 && cfg.subs > 1 {
		label, slow = label+" (slow)", cfg.slow
	}
	cpu := cfg.subCPU
	if cpu == "" {
		cpu = "auto"
		if cfg.subs > 1 {
			cpu = "none" // more spinners than CPUs: let the scheduler place them
		}
	}
	args := []string{"subscribe", "-name", cfg.name, "-label", label, "-cpu", cpu, "-every", cfg.every.String(),
		"-wait", cfg.wait.String(), "-procs", strconv.Itoa(cfg.procs), "-slow", slow.String(), "-idle", cfg.idle}
	if cfg.dir != "" {
		args = append(args, "-dir", cfg.dir)
	}
	if cfg.dedicated {
		args = append(args, "-dedicated")
	}
	return args
}

func stopAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		c.Process.Signal(os.Interrupt)
	}
}
