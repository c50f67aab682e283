package tuning

import (
	"os"
	"strings"
	"testing"
)

// TestCheckLiveHost runs Check against this machine: it must not panic and
// must say something. With -v it prints the report for a human to read.
func TestCheckLiveHost(t *testing.T) {
	fs := Check(Options{IncludeOK: true})
	if len(fs) == 0 {
		t.Fatal("Check on the live host returned nothing")
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.ID] {
			t.Errorf("ID %q appears twice", f.ID)
		}
		seen[f.ID] = true
	}
	if testing.Verbose() {
		var b strings.Builder
		if err := WriteTable(&b, fs); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString(b.String())
	}
}
