package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(subEnv); spec != "" {
		os.Exit(subscriber(spec, os.Stdout))
	}
	os.Exit(m.Run())
}

var lineRE = regexp.MustCompile(`^subscriber (\d+) \((fast|slow)\): received (\d+), lost (\d+)(, then (.*))?$`)

// TestDemo: under lossy every subscriber accounts for every tick
// (received + lost); under reliable the fast ones receive everything, and
// the slow one too unless it is evicted and told so.
func TestDemo(t *testing.T) {
	for _, pol := range []string{"lossy", "reliable"} {
		var out bytes.Buffer
		if err := run([]string{"demo", "-subs", "3", "-policy", pol, "-n", "20000"}, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "published 20000 ticks ("+pol+")") {
			t.Fatalf("%s:\n%s", pol, out.String())
		}
		for _, l := range lines[1:] {
			m := lineRE.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("%s: %q", pol, l)
			}
			got, _ := strconv.Atoi(m[3])
			lost, _ := strconv.Atoi(m[4])
			evicted := strings.Contains(m[6], "evicted")
			switch {
			case m[6] != "" && !evicted:
				t.Fatalf("%s: %q", pol, l)
			case evicted && (pol == "lossy" || m[2] == "fast"):
				t.Fatalf("%s: %q", pol, l)
			case !evicted && got+lost != 20000:
				t.Fatalf("%s: %q", pol, l)
			case pol == "reliable" && lost != 0:
				t.Fatalf("%s: %q", pol, l)
			}
		}
	}
}
