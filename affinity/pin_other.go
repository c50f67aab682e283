//go:build !linux

package affinity

import (
	"errors"
	"runtime"

	"github.com/spinwire/spinwire/internal/msg"
)

// Pin is Linux-only (sched_setaffinity); elsewhere it returns an error
// wrapping errors.ErrUnsupported, or ErrInvalidCPU for a cpu outside
// [0, MaxCPU).
func Pin(cpu int) (undo func(), err error) {
	if cpu < 0 || cpu >= MaxCPU {
		return nil, msg.Errorf("%w: cpu=%d (want 0…%d)", ErrInvalidCPU, cpu, MaxCPU-1)
	}
	return nil, msg.Errorf("affinity: pin cpu=%d on %s: %w", cpu, runtime.GOOS, errors.ErrUnsupported)
}

// PinThread is Linux-only, as Pin.
func PinThread(cpu int) error {
	_, err := Pin(cpu)
	return err
}

// Allowed is Linux-only (sched_getaffinity); elsewhere it returns an error
// wrapping errors.ErrUnsupported.
func Allowed() (CPUSet, error) {
	return nil, msg.Errorf("affinity: allowed cpus on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// CurrentCPU is Linux-only (getcpu); elsewhere it returns -1.
func CurrentCPU() int { return -1 }
