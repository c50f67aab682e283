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

// demo runs the publisher in this process and the subscriber in a second
// one: this program, re-executed with "subscribe". The child is started from
// the main goroutine, whose thread is locked but never pinned, so it starts
// with the process's full CPU mask (a child inherits the mask of the thread
// that forks it).
func demo(ctx context.Context, cfg pubConfig, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"subscribe", "-name", cfg.name, "-cpu", cfg.subCPU, "-every", cfg.every.String(),
		"-wait", cfg.wait.String(), "-procs", strconv.Itoa(cfg.procs)}
	if cfg.dir != "" {
		args = append(args, "-dir", cfg.dir)
	}
	if cfg.dedicated {
		args = append(args, "-dedicated")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// On Ctrl-C the terminal signals both processes; if ctx ends some other
	// way, pass the interrupt on so the subscriber still prints its totals.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second // then it is killed
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the subscriber: %w", err)
	}
	_, perr := publish(ctx, cfg, stdout, stderr)
	if perr != nil {
		cmd.Process.Signal(os.Interrupt)
	}
	werr := cmd.Wait()
	switch {
	case perr != nil:
		return perr
	case werr != nil && ctx.Err() == nil:
		return fmt.Errorf("subscriber: %w", werr)
	}
	return nil
}
