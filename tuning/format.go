package tuning

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// WriteTable writes fs as an aligned table, one row per finding (severity,
// id, summary), with the evidence and each line of the fix indented below:
//
//	SEVERITY  ID              SUMMARY
//	warn      irq-on-spinner  2 IRQs may land on spinner CPUs: 36 38
//	                          evidence: IRQ 36 (virtio1-req.0) → 0-1, 8494 taken on spinner CPUs; …
//	                          fix: echo 0 > /proc/irq/36/smp_affinity_list
//	                               echo 0 > /proc/irq/38/smp_affinity_list
//
// An empty list prints the header and "(no findings)". The first write error
// is returned.
func WriteTable(w io.Writer, fs []Finding) error {
	bw := bufio.NewWriter(w)
	sevW, idW := len("SEVERITY"), len("ID")
	for _, f := range fs {
		sevW = max(sevW, len(f.Severity.String()))
		idW = max(idW, len(f.ID))
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)+2) }
	indent := strings.Repeat(" ", sevW+2+idW+2)
	bw.WriteString(pad("SEVERITY", sevW) + pad("ID", idW) + "SUMMARY\n")
	if len(fs) == 0 {
		bw.WriteString("(no findings)\n")
	}
	for _, f := range fs {
		bw.WriteString(pad(f.Severity.String(), sevW) + pad(f.ID, idW) + oneLine(f.Summary) + "\n")
		if f.Evidence != "" {
			bw.WriteString(indent + "evidence: " + oneLine(f.Evidence) + "\n")
		}
		for i, l := range strings.Split(f.Fix, "\n") {
			switch {
			case l == "":
			case i == 0:
				bw.WriteString(indent + "fix: " + l + "\n")
			default:
				bw.WriteString(indent + "     " + l + "\n")
			}
		}
	}
	return bw.Flush()
}

// oneLine folds line breaks so that a summary or evidence stays on its row.
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }

// WriteJSON writes one JSON object per finding per line (JSON Lines), with
// exactly the fields id, severity ("ok", "info", "warn", "crit"), summary,
// evidence and fix. HTML characters are not escaped, so a fix reads
// "echo 0 > /proc/irq/36/smp_affinity_list". The first write error is
// returned.
func WriteJSON(w io.Writer, fs []Finding) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range fs {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
