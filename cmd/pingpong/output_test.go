package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// fakeSeries returns histograms of log-normal latencies around base ns.
func fakeSeries(names []string, n int) []series {
	r := rand.New(rand.NewPCG(5, 6))
	var ss []series
	for i, name := range names {
		h := newHistogram()
		base := 200 * math.Pow(8, float64(i))
		for range n {
			h.RecordValue(int64(base * math.Exp(math.Abs(r.NormFloat64())*0.7)))
		}
		ss = append(ss, series{name, h})
	}
	return ss
}

// TestHgrm/plotter_format: the .hgrm file is HdrHistogram's percentile
// distribution: a header, rows of value (µs), percentile, count and
// 1/(1-percentile) that grow, a last row at 100 %, and the footer.
func TestHgrm(t *testing.T) {
	h := fakeSeries([]string{"x"}, 50_000)[0].h
	var b bytes.Buffer
	if err := writeHgrm(&b, h); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Scan()
	if f := strings.Fields(sc.Text()); len(f) != 4 || f[0] != "Value" || f[3] != "1/(1-Percentile)" {
		t.Fatalf("header %q", sc.Text())
	}
	sc.Scan()
	if sc.Text() != "" {
		t.Fatalf("no blank line after the header: %q", sc.Text())
	}
	var rows, footer int
	var lastV, lastP float64
	var lastC int64
	sawEnd := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#[") {
			footer++
			continue
		}
		f := strings.Fields(l)
		v, _ := strconv.ParseFloat(f[0], 64)
		p, _ := strconv.ParseFloat(f[1], 64)
		c, _ := strconv.ParseInt(f[2], 10, 64)
		if v < lastV || p < lastP || c < lastC {
			t.Fatalf("row %q goes backwards", l)
		}
		switch len(f) {
		case 4:
			inv, _ := strconv.ParseFloat(f[3], 64)
			if math.Abs(inv-1/(1-p)) > 0.01*inv+0.01 {
				t.Errorf("row %q: 1/(1-p) wrong", l)
			}
		case 3:
			if p != 1 || c != h.TotalCount() {
				t.Errorf("last row %q", l)
			}
			sawEnd = true
		default:
			t.Fatalf("row %q has %d fields", l, len(f))
		}
		lastV, lastP, lastC = v, p, c
		rows++
	}
	if rows < 50 || footer != 3 || !sawEnd {
		t.Errorf("%d rows, %d footer lines, end row %v", rows, footer, sawEnd)
	}
	if math.Abs(lastV-float64(h.Max())/1000) > 0.01*lastV {
		t.Errorf("last value %v µs, max %d ns", lastV, h.Max())
	}
	if !strings.Contains(text, "#[Buckets =") {
		t.Error("no buckets line")
	}
}

// svgDoc parses an SVG and returns its text elements and the stroke
// colours of its paths.
func svgDoc(t *testing.T, b []byte) (texts []string, strokes map[string]int) {
	t.Helper()
	strokes = map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(b))
	var root bool
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if !root {
				if el.Name.Local != "svg" {
					t.Fatalf("root element %q", el.Name.Local)
				}
				root = true
			}
			inText = el.Name.Local == "text"
			if el.Name.Local == "path" {
				for _, a := range el.Attr {
					if a.Name.Local == "style" {
						for kv := range strings.SplitSeq(a.Value, ";") {
							if v, ok := strings.CutPrefix(kv, "stroke:"); ok {
								strokes[v]++
							}
						}
					}
				}
			}
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if !root {
		t.Fatal("no svg element")
	}
	return texts, strokes
}

// TestPlot/svg_one_series_per_transport: the SVG is well-formed XML with
// one labelled line in its own colour per transport, and percentile and
// time labels on the axes; the PNG is a PNG.
func TestPlot(t *testing.T) {
	names := []string{"spinwire", "spinwire-park", "uds", "uds-net", "x-custom"}
	ss := fakeSeries(names, 20_000)
	dir := t.TempDir()
	svg := filepath.Join(dir, "c.svg")
	if err := writePlot(svg, "title: test", ss); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	texts, strokes := svgDoc(t, b)
	count := map[string]int{}
	for _, s := range texts {
		count[s]++
	}
	for _, name := range names {
		if count[name] != 1 {
			t.Errorf("legend label %q appears %d times", name, count[name])
		}
	}
	for _, want := range []string{"50%", "99%", "99.99%", "percentile", "title: test"} {
		if count[want] == 0 {
			t.Errorf("no %q in the chart; texts %q", want, texts)
		}
	}
	if count["1µs"]+count["10µs"]+count["100µs"] == 0 {
		t.Errorf("no time labels: %q", texts)
	}
	// Each series colour strokes its line and its legend thumbnail.
	for _, name := range names[:4] {
		c := seriesColor[name]
		hex := fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B)
		n := strokes[hex] + strokes[strings.ToLower(hex)]
		if n != 2 {
			t.Errorf("%s: colour %s strokes %d paths, want 2 (line, legend); strokes %v", name, hex, n, strokes)
		}
	}
	png := filepath.Join(dir, "c.png")
	if err := writePlot(png, "t", ss[:1]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(png); !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Error("not a PNG")
	}
	if err := writePlot(filepath.Join(dir, "e.svg"), "t", []series{{"empty", newHistogram()}}); err == nil {
		t.Error("an empty chart was drawn")
	}
}

func TestSpectrum(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 1000; i++ {
		h.RecordValue(int64(i))
	}
	xys := spectrum(h)
	if xys[0].X != 2 || math.Abs(xys[0].Y-500) > 1 {
		t.Errorf("first point %v, want (2, 500)", xys[0])
	}
	last := xys[len(xys)-1]
	if last.X > 1000 || last.X < 900 || last.Y < 998 {
		t.Errorf("last point %v: want x ≤ n = 1000 and y near the max", last)
	}
	for i := 1; i < len(xys); i++ {
		if xys[i].X <= xys[i-1].X || xys[i].Y < xys[i-1].Y {
			t.Fatalf("not increasing at %d: %v %v", i, xys[i-1], xys[i])
		}
	}
	ts := timeTicks(300, 3e5)
	var labels []string
	for _, tk := range ts {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if strings.Join(labels, " ") != "500ns 1µs 2µs 5µs 10µs 20µs 50µs 100µs 200µs" {
		t.Errorf("labels %q", labels)
	}
	if l := tickLabel(2e9); l != "2s" {
		t.Errorf("tickLabel(2e9) = %q", l)
	}
	if l := tickLabel(5e6); l != "5ms" {
		t.Errorf("tickLabel(5e6) = %q", l)
	}
}

// TestWriteOutputs/out_folder: -out gets the table, the JSON, one .hgrm
// per transport with samples and both charts; -hgrm and -plot write
// where told; stdout gets the table or the JSON.
func TestWriteOutputs(t *testing.T) {
	dir := t.TempDir()
	c := testConfig("latency")
	c.OutDir = filepath.Join(dir, "out")
	c.HgrmDir = filepath.Join(dir, "hgrm")
	c.Plot = filepath.Join(dir, "p.svg")
	if err := prepareOutputs(c); err != nil {
		t.Fatal(err)
	}
	ss := fakeSeries([]string{"spinwire", "uds"}, 5000)
	hists := map[string]*hdrhistogram.Histogram{"spinwire": ss[0].h, "uds": ss[1].h}
	rs := []result{{Transport: "spinwire", P50: 200}, {Transport: "uds", P50: 9000}, {Transport: "floor-c", P50: 150}}
	var out, notes bytes.Buffer
	run := runInfo{c: c, took: 1500 * time.Millisecond}
	if err := writeOutputs(c, run, rs, hists, &out, &notes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "× spinwire") || !strings.Contains(out.String(), "# took 1.5s") {
		t.Errorf("stdout:\n%s", out.String())
	}
	if !strings.Contains(notes.String(), "floor-c reports only its summary") {
		t.Errorf("notes %q", notes.String())
	}
	for _, f := range []string{"out/table.txt", "out/results.json", "out/spinwire.hgrm", "out/uds.hgrm", "out/latency.svg", "out/latency.png", "hgrm/spinwire.hgrm", "hgrm/uds.hgrm", "p.svg"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "floor-c.hgrm")); err == nil {
		t.Error("floor-c has a .hgrm file")
	}
	table, _ := os.ReadFile(filepath.Join(dir, "out", "table.txt"))
	if string(table) != out.String() {
		t.Error("table.txt differs from what was printed")
	}
	c.JSON = true
	out.Reset()
	c.OutDir, c.HgrmDir, c.Plot = "", "", ""
	if err := writeOutputs(c, run, rs, hists, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if ls := lines(out.String()); len(ls) != 3 || !strings.HasPrefix(ls[0], `{"transport":"spinwire"`) {
		t.Errorf("JSON:\n%s", out.String())
	}
}
