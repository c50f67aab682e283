package main

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spinwire/spinwire/stat"
)

// collector scans the registry at each scrape. Every counter of every
// endpoint is exported as spinwire_<kind>_<counter> (kind with
// underscores; monotonic counters with _total), labelled endpoint, kind,
// pid and id (segment:index, unique); and for every kind with one, its main counter also as
// spinwire_messages_total, so one query covers all endpoints.
type collector struct{ dir, shareDir string }

var (
	messagesDesc = prometheus.NewDesc("spinwire_messages_total",
		"Messages moved by an endpoint: consumed from a ring, requests answered by a server, received by a subscriber…",
		[]string{"endpoint", "kind", "pid", "id"}, nil)
	corruptDesc = prometheus.NewDesc("spinwire_corrupt_segments",
		"Counters segments spinstat could not read.", nil, nil)
)

// levels are the counters that go up and down (gauges).
var levels = map[string]bool{"conns": true, "procs": true, "capacity": true, "capacity_bytes": true,
	"subscribers": true, "lag": true, "arenas": true}

// Describe sends nothing: the metrics depend on what runs at each scrape,
// so this is an unchecked collector.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ps, err := scan(c.dir, c.shareDir)
	if err != nil {
		return
	}
	corrupt := 0
	descs := map[string]*prometheus.Desc{}
	for i := range ps {
		p := &ps[i]
		if p.Err != nil {
			corrupt++
			continue
		}
		pid := strconv.FormatUint(uint64(p.PID), 10)
		for j := range p.Endpoints {
			s := &p.Endpoints[j]
			kind := s.Kind.String()
			id := stat.Printable(p.Name) + ":" + strconv.Itoa(j) // unique even if two endpoints share a name
			for k, n := range stat.CounterNames(s.Kind) {
				name := "spinwire_" + strings.ReplaceAll(kind, "-", "_") + "_" + n
				typ := prometheus.GaugeValue
				if !levels[n] {
					name += "_total"
					typ = prometheus.CounterValue
				}
				d := descs[name]
				if d == nil {
					d = prometheus.NewDesc(name, "spinwire "+kind+" counter "+n+" (see package stat).", []string{"endpoint", "kind", "pid", "id"}, nil)
					descs[name] = d
				}
				ch <- prometheus.MustNewConstMetric(d, typ, float64(s.Counters[k]), s.Name, kind, pid, id)
			}
			if m := mainCounter(s.Kind); m != "" {
				v, _ := s.Counter(m)
				ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(v), s.Name, kind, pid, id)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(corruptDesc, prometheus.GaugeValue, float64(corrupt))
}
