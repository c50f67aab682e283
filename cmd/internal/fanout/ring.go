package fanout

import (
	"errors"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// RunRing is the baseline: the same two phases through one spin.Ring to
// one consumer process (cfg.Subs and cfg.Procs are taken as 1).
func RunRing(cfg Config) (*Result, error) {
	n, _, err := spin.RingLength[Msg](slots, spin.InSlot)
	if err != nil {
		return nil, err
	}
	seg, err := layout.Create(n, layout.Options{Name: "fanout-ring", Dir: cfg.Dir})
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	r, err := spin.NewRing[Msg](seg.Body(), spin.RingOptions{Capacity: slots, Protocol: spin.InSlot})
	if err != nil {
		return nil, err
	}
	cfg.Subs, cfg.Procs = 1, 1
	kids, err := startChildren(cfg, "ring")
	if err != nil {
		return nil, err
	}
	defer stopChildren(kids)
	res := &Result{Hist: NewHist()}
	deadline := time.Now().Add(cfg.Timeout)
	send := func(m *Msg) error {
		for !r.TryPublish(m) {
			if time.Now().After(deadline) {
				return errRingFull
			}
			asm.Pause()
		}
		return nil
	}
	onCPU(cfg.CPUs[0], func() error {
		res.MsgsPerSec = publish(cfg, send)
		return nil
	})
	return res, collect(kids, res, cfg.Timeout)
}

var errRingFull = errors.New("fanout: the ring stayed full past the timeout")
