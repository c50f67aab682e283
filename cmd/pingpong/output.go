package main

import (
	"bufio"
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// prepareOutputs makes the folders -hgrm and -out name and checks that
// -plot's folder exists, before anything is measured.
func prepareOutputs(c *config) error {
	for _, d := range []struct{ flag, dir string }{{"-hgrm", c.HgrmDir}, {"-out", c.OutDir}} {
		if d.dir == "" {
			continue
		}
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			return fmt.Errorf("%s %s: %v", d.flag, d.dir, err)
		}
	}
	if c.Plot != "" {
		dir := filepath.Dir(c.Plot)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("-plot %s: no folder %s", c.Plot, dir)
		}
	}
	return nil
}

// series is one transport's line in the chart and its .hgrm file.
type series struct {
	name string
	h    *hdrhistogram.Histogram
}

// writeOutputs prints the table (or JSON) and writes every artefact asked
// for: -hgrm files, the -plot chart, and the -out folder's contents.
func writeOutputs(c *config, run runInfo, rs []result, hists map[string]*hdrhistogram.Histogram, stdout, notes io.Writer) error {
	var table bytes.Buffer
	writeHeader(&table, run, rs)
	if err := writeTable(&table, c, rs); err != nil {
		return err
	}
	writePaths(&table, rs)
	fmt.Fprintf(&table, "# took %.1fs\n", run.took.Seconds())
	var js bytes.Buffer
	if err := writeJSON(&js, rs); err != nil {
		return err
	}
	out := table.Bytes()
	if c.JSON {
		out = js.Bytes()
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	var ss []series
	for _, r := range rs {
		if h := hists[r.Transport]; h != nil {
			ss = append(ss, series{r.Transport, h})
		} else if r.Transport == "floor-c" && (c.HgrmDir != "" || c.Plot != "" || c.OutDir != "") {
			fmt.Fprintln(notes, "note: floor-c reports only its summary: it has no .hgrm file and no line in the chart")
		}
	}
	title := chartTitle(c, rs)
	if c.HgrmDir != "" {
		if err := writeHgrms(c.HgrmDir, ss); err != nil {
			return err
		}
	}
	if c.Plot != "" && len(ss) > 0 {
		if err := writePlot(c.Plot, title, ss); err != nil {
			return fmt.Errorf("-plot: %w", err)
		}
	}
	if c.OutDir != "" {
		files := map[string][]byte{"table.txt": table.Bytes(), "results.json": js.Bytes()}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(c.OutDir, name), b, 0o644); err != nil {
				return err
			}
		}
		if len(ss) > 0 {
			if err := writeHgrms(c.OutDir, ss); err != nil {
				return err
			}
			for _, f := range []string{"latency.svg", "latency.png"} {
				if err := writePlot(filepath.Join(c.OutDir, f), title, ss); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func writeHgrms(dir string, ss []series) error {
	for _, s := range ss {
		f, err := os.Create(filepath.Join(dir, s.name+".hgrm"))
		if err != nil {
			return err
		}
		err = writeHgrm(f, s.h)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hgrmScale turns the histogram's nanoseconds into the file's microseconds
// (HistogramLogProcessor's -outputValueUnitRatio 1000).
const hgrmScale = 1000.0

// writeHgrm writes h's percentile distribution as HdrHistogram's Java
// outputPercentileDistribution does (5 ticks per half distance, values
// in µs with 3 decimals): the format HdrHistogram's plotter
// (hdrhistogram.github.io/HdrHistogram/plotFiles.html) and wrk2 use.
func writeHgrm(w io.Writer, h *hdrhistogram.Histogram) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		p := b.Quantile / 100
		v := float64(b.ValueAt) / hgrmScale
		if b.Quantile >= 100 {
			fmt.Fprintf(bw, "%12.3f %2.12f %10d\n", v, 1.0, b.Count)
		} else {
			fmt.Fprintf(bw, "%12.3f %2.12f %10d %14.2f\n", v, p, b.Count, 1/(1-p))
		}
	}
	fmt.Fprintf(bw, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h.Mean()/hgrmScale, h.StdDev()/hgrmScale)
	fmt.Fprintf(bw, "#[Max     = %12.3f, Total count    = %12d]\n", float64(h.Max())/hgrmScale, h.TotalCount())
	fmt.Fprintln(bw, bucketsLine(h))
	return bw.Flush()
}

// bucketsLine is the library's own "#[Buckets = …, SubBuckets = …]" line
// (the counts are not exported otherwise).
func bucketsLine(h *hdrhistogram.Histogram) string {
	var b bytes.Buffer
	h.PercentilesPrint(&b, 1, 1)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	return lines[len(lines)-1]
}

func chartTitle(c *config, rs []result) string {
	what := "pingpong: round-trip latency by percentile"
	if c.Mode == "rate" {
		what = fmt.Sprintf("pingpong: latency by percentile from each message's intended send at %s msgs/s (corrected for coordinated omission)", rate(c.Rate))
	}
	return fmt.Sprintf("%s\n%d B messages, CPUs %d and %d, all rounds merged; a line ends where its samples run out", what, c.Size, c.CPUs[0], c.CPUs[1])
}

// spectrumX are the chart's x positions: 1/(1-p) for p from 50 % to
// 99.999 %, the usual percentile-spectrum scale.
var spectrumX = []struct {
	x     float64
	label string
}{{2, "50%"}, {10, "90%"}, {100, "99%"}, {1e3, "99.9%"}, {1e4, "99.99%"}, {1e5, "99.999%"}}

// seriesColor gives each transport a fixed colour (so charts of several
// runs compare), the spinwire family in blues.
var seriesColor = map[string]color.RGBA{
	"spinwire":         {0x1f, 0x5f, 0xbf, 0xff},
	"spinwire-backoff": {0x3f, 0x9f, 0xff, 0xff},
	"spinwire-park":    {0x00, 0x2f, 0x6f, 0xff},
	"raw":              {0x40, 0x40, 0x40, 0xff},
	"uds":              {0xff, 0x7f, 0x0e, 0xff},
	"uds-net":          {0xd6, 0x27, 0x28, 0xff},
	"pipe":             {0x2c, 0xa0, 0x2c, 0xff},
	"eventfd":          {0x94, 0x67, 0xbd, 0xff},
	"futex":            {0x8c, 0x56, 0x4b, 0xff},
	"tcp":              {0xe3, 0x77, 0xc2, 0xff},
}

// spectrum returns the points of h's percentile spectrum: x = 1/(1-p),
// y = the latency in ns at p, for x from 2 up to what n samples resolve.
func spectrum(h *hdrhistogram.Histogram) plotter.XYs {
	top := math.Min(1e5, float64(h.TotalCount()))
	var xys plotter.XYs
	const steps = 40 // per decade
	for k := 0; ; k++ {
		x := 2 * math.Pow(10, float64(k)/steps)
		if x > top*(1+1e-9) {
			break
		}
		p := 1 - 1/x
		xys = append(xys, plotter.XY{X: x, Y: float64(max(h.ValueAtPercentile(100*p), 1))})
	}
	return xys
}

// writePlot draws the percentile spectrum of every series into file
// (.svg or .png): log x from 50 % to 99.999 %, log y in time units, one
// labelled line per transport.
func writePlot(file, title string, ss []series) error {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	var xt []plot.Tick
	for _, t := range spectrumX {
		xt = append(xt, plot.Tick{Value: t.x, Label: t.label})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.X.Min, p.X.Max = 2, 1e5
	p.Y.Tick.Marker = plot.TickerFunc(timeTicks)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xdd}
	grid.Horizontal.Color = color.Gray{0xdd}
	p.Add(grid)
	lo, hi := math.Inf(1), 0.0
	for i, s := range ss {
		xys := spectrum(s.h)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		col, ok := seriesColor[s.name]
		if !ok {
			col = color.RGBA{uint8(60 * i), 0x80, uint8(255 - 40*i), 0xff}
		}
		l.LineStyle.Color = col
		l.LineStyle.Width = vg.Points(1.8)
		switch s.name {
		case "spinwire-backoff":
			l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		case "spinwire-park":
			l.LineStyle.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
		for _, xy := range xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	if hi == 0 {
		return fmt.Errorf("no samples to draw")
	}
	// Room above the lines for the legend, in the top left corner.
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = hi * math.Pow(10, 0.25*float64(len(ss))/2+0.3)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(6)
	p.Legend.ThumbnailWidth = vg.Points(28)
	return p.Save(10*vg.Inch, 6*vg.Inch, file)
}

// timeTicks marks a log axis of nanoseconds at 1, 2 and 5 of each decade,
// labelled in ns, µs, ms or s (the 2s and 5s only when the axis spans
// fewer than four decades).
func timeTicks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	decades := math.Log10(hi / lo)
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || decades < 4 {
				t.Label = tickLabel(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// tickLabel writes nanoseconds as 500ns, 2µs, 10ms, 1s.
func tickLabel(v float64) string {
	switch {
	case v < 1e3:
		return fmt.Sprintf("%gns", v)
	case v < 1e6:
		return fmt.Sprintf("%gµs", v/1e3)
	case v < 1e9:
		return fmt.Sprintf("%gms", v/1e6)
	}
	return fmt.Sprintf("%gs", v/1e9)
}
