package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spinwire/spinwire/stat"
)

// row is one endpoint, with its rates over the last interval; what -json
// prints.
type row struct {
	PID      uint32            `json:"pid"`
	Command  string            `json:"command"`
	Endpoint string            `json:"endpoint"`
	Kind     string            `json:"kind"`
	Type     string            `json:"type"`
	Rate     float64           `json:"rate_per_sec"` // of the kind's main counter (mainCounter)
	Backlog  uint64            `json:"backlog"`      // published, not yet consumed (rings), or lag
	Lost     uint64            `json:"lost"`
	Errors   uint64            `json:"errors"`
	Counters map[string]uint64 `json:"counters"`
	Latency  stat.Percentiles  `json:"latency_ns"`
	Age      float64           `json:"age_sec"` // since the endpoint was registered
	Stale    bool              `json:"stale"`   // its process has not sampled for 3 intervals
	Corrupt  string            `json:"corrupt,omitempty"`
}

// mainCounter is the counter a kind's rate is taken of.
func mainCounter(k stat.Kind) string {
	switch k {
	case stat.KindRing, stat.KindMPSC:
		return "consumed"
	case stat.KindLog:
		return "consumed_bytes"
	case stat.KindLinkServer, stat.KindBridgeService:
		return "requests"
	case stat.KindTopicPub, stat.KindBridgeExport:
		return "published"
	case stat.KindTopicSub, stat.KindBridgeImport:
		return "received"
	}
	return ""
}

// errorCounters are summed into a row's Errors.
var errorCounters = []string{"refused", "dropped", "accept_errors", "corrupt", "evicted", "malformed", "mismatched", "failed", "errors", "push_full"}

// key identifies an endpoint across two scans.
func key(p *stat.Process, s *stat.Snapshot) string {
	return p.Name + "\x00" + s.Name + "\x00" + strconv.FormatInt(s.Created.UnixNano(), 10)
}

// diff makes the rows of cur, with rates against prev, d earlier.
func diff(prev, cur []stat.Process, d time.Duration) []row {
	before := map[string]*stat.Snapshot{}
	for i := range prev {
		for j := range prev[i].Endpoints {
			before[key(&prev[i], &prev[i].Endpoints[j])] = &prev[i].Endpoints[j]
		}
	}
	now := time.Now()
	var rows []row
	for i := range cur {
		p := &cur[i]
		if p.Err != nil {
			// The file name, and the errors that quote it, are whoever
			// could write the directory's (stat.Printable).
			rows = append(rows, row{PID: p.PID, Command: p.Command, Endpoint: stat.Printable(p.Name), Kind: "?", Corrupt: stat.Printable(p.Err.Error())})
			continue
		}
		for j := range p.Endpoints {
			rows = append(rows, makeRow(p, &p.Endpoints[j], before[key(p, &p.Endpoints[j])], d, now))
		}
	}
	return rows
}

func makeRow(p *stat.Process, s, old *stat.Snapshot, d time.Duration, now time.Time) row {
	r := row{PID: p.PID, Command: p.Command, Endpoint: s.Name, Kind: s.Kind.String(), Type: s.Type,
		Counters: map[string]uint64{}, Latency: s.Latency(), Age: now.Sub(s.Created).Seconds(),
		Stale: p.Interval > 0 && now.Sub(p.Updated) > 3*p.Interval+time.Second}
	for i, n := range stat.CounterNames(s.Kind) {
		r.Counters[n] = s.Counters[i]
	}
	if m := mainCounter(s.Kind); m != "" && old != nil {
		a, _ := old.Counter(m)
		b, _ := s.Counter(m)
		if b >= a {
			r.Rate = float64(b-a) / d.Seconds()
		}
	}
	c := r.Counters
	switch s.Kind {
	case stat.KindRing, stat.KindMPSC:
		r.Backlog = c["published"] - min(c["consumed"], c["published"])
	case stat.KindLog:
		r.Backlog = c["published_bytes"] - min(c["consumed_bytes"], c["published_bytes"])
	case stat.KindTopicSub:
		r.Backlog = c["lag"]
	}
	r.Lost = c["lost"]
	for _, n := range errorCounters {
		r.Errors += c[n]
	}
	return r
}

func writeTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tCOMMAND\tENDPOINT\tKIND\tTYPE\tRATE/s\tBACKLOG\tLOST\tERRORS\tAGE\t")
	for _, r := range rows {
		if r.Corrupt != "" {
			fmt.Fprintf(tw, "%d\t%s\t%s\tcorrupt\t\t\t\t\t\t\t%s\n", r.PID, r.Command, r.Endpoint, r.Corrupt)
			continue
		}
		age := (time.Duration(r.Age) * time.Second).String()
		if r.Stale {
			age += " (stale)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t\n", r.PID, r.Command, r.Endpoint, r.Kind, r.Type,
			human(r.Rate), r.Backlog, r.Lost, r.Errors, age)
	}
	tw.Flush()
}

// writeDetail prints every counter and the latency of the rows named name.
func writeDetail(w io.Writer, rows []row, name string) {
	found := false
	for _, r := range rows {
		if r.Endpoint != name {
			continue
		}
		found = true
		fmt.Fprintf(w, "%s (%s, %s) in pid %d (%s), rate %s/s\n", r.Endpoint, r.Kind, r.Type, r.PID, r.Command, human(r.Rate))
		for _, n := range stat.CounterNames(stat.Kind(kindOf(r.Kind))) {
			fmt.Fprintf(w, "  %-18s %d\n", n, r.Counters[n])
		}
		if l := r.Latency; l.Count > 0 {
			fmt.Fprintf(w, "  latency: %d samples, p50 %v, p90 %v, p99 %v, max %v\n", l.Count,
				time.Duration(l.P50), time.Duration(l.P90), time.Duration(l.P99), time.Duration(l.Max))
		}
	}
	if !found {
		fmt.Fprintf(w, "no endpoint called %q\n", name)
	}
}

// kindOf maps a kind's name back to the Kind (0 if unknown).
func kindOf(name string) uint32 {
	for k := stat.Kind(1); k < 64; k++ {
		if k.String() == name {
			return uint32(k)
		}
	}
	return 0
}

// human formats a rate with k, M or G.
func human(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}
