package tuning

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var sample = []Finding{
	{ID: "irq-on-spinner", Severity: Warn, Summary: "2 IRQs may land on spinner CPUs: 36 38", Evidence: "IRQ 36\nIRQ 38",
		Fix: "echo 0 > /proc/irq/36/smp_affinity_list\necho 0 > /proc/irq/38/smp_affinity_list"},
	{ID: "thp", Severity: OK, Summary: "transparent huge pages: madvise"},
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"SEVERITY  ID              SUMMARY\n" +
		"warn      irq-on-spinner  2 IRQs may land on spinner CPUs: 36 38\n" +
		"                          evidence: IRQ 36 IRQ 38\n" +
		"                          fix: echo 0 > /proc/irq/36/smp_affinity_list\n" +
		"                               echo 0 > /proc/irq/38/smp_affinity_list\n" +
		"ok        thp             transparent huge pages: madvise\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteTable(&b, nil); err != nil || b.String() != "SEVERITY  ID  SUMMARY\n(no findings)\n" {
		t.Errorf("empty: %q, %v", b.String(), err)
	}
}

type failWriter struct{}

var errWrite = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteErrors(t *testing.T) {
	if err := WriteTable(failWriter{}, sample); !errors.Is(err, errWrite) {
		t.Errorf("WriteTable: %v", err)
	}
	if err := WriteJSON(failWriter{}, sample); !errors.Is(err, errWrite) {
		t.Errorf("WriteJSON: %v", err)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	if !strings.Contains(lines[0], `"fix":"echo 0 > /proc/irq/36/smp_affinity_list\necho 0`) {
		t.Errorf("HTML-escaped or mangled fix: %s", lines[0])
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if len(m) != 5 {
			t.Errorf("line %d has fields %v, want exactly id severity summary evidence fix", i, m)
		}
		for _, k := range []string{"id", "severity", "summary", "evidence", "fix"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q", i, k)
			}
		}
		var f Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil || f != sample[i] {
			t.Errorf("round trip %d: %+v, %v", i, f, err)
		}
	}
	if !strings.Contains(lines[0], `"severity":"warn"`) {
		t.Errorf("severity not a string: %s", lines[0])
	}
}

func TestSeverity(t *testing.T) {
	for s, want := range map[Severity]string{OK: "ok", Info: "info", Warn: "warn", Crit: "crit", 7: "Severity(7)", -1: "Severity(-1)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("crit")); err != nil || s != Crit {
		t.Errorf("UnmarshalText(crit) = %v, %v", s, err)
	}
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("UnmarshalText(fatal) succeeded")
	}
}
