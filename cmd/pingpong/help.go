package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// shortHelp is the top of `pingpong -h`; the common flags follow it.
const shortHelp = `pingpong: cross-process messaging on this host, every transport side by side

usage: pingpong [-mode M] [flags]   measure, by default spinwire, raw and uds
       pingpong -check              print the host's tuning findings and exit
       pingpong -cleanup NAME       remove a dead link server's files and exit

pingpong starts a peer (itself, re-executed), pins the two processes to two
CPUs and runs the chosen transports in interleaved rounds on those CPUs,
each round after a discarded warm-up, so machine drift hits all alike.
`

// modeSummaries are the modes in one line each, for -h.
const modeSummaries = `Modes (-mode M; "pingpong -mode M -h" says what M measures and lists its flags):
  latency     closed loop: send, wait for the echo, repeat (the default)
  rate        open loop at -rate R messages/s, timed from each intended send
  throughput  one way, -batch messages per publish
  conns       request/response through link over -conns connections (1000)
  restart     SIGKILL and restart a link server under -conns clients (100)
  fanout      one topic publisher to -subs subscriptions (8), against a Ring
  streams     the stream table: every size, protocol and batch against its floor
`

// commonFlags are the flags -h shows, in this order; the rest are in
// -help-all and in each mode's help.
var commonFlags = []string{"transport", "n", "duration", "size", "cpus", "agent", "json", "out", "quiet",
	"check", "cleanup", "version", "help-all"}

// checkText says what -check does, for every help.
const checkText = `-check prints the host's tuning findings for the two CPUs a run would use
(-cpus, else affinity.Plan(2)), each with its fix, and exits without
measuring; it fails only when the checks cannot run.`

// agentText explains -agent, for the modes that spin.
const agentText = `Agent modes (-agent, the spinning threads of spinwire and the parent):
  dedicated    (default) pingpong re-executes itself with
               GODEBUG=asyncpreemptoff=1 and runs with the GC off: no
               preemption signal ever interrupts a spinner. Fastest tails;
               in your own program it needs the same discipline (see
               agent.Dedicated).
  preemptible  a preemption point every 256 iterations: the GC and
               stop-the-world keep working; about every 10 ms of continuous
               spinning the runtime preempts the spinner once (a few µs).`

// modeTexts are the modes' help texts, and the shared sections each
// mode's help adds.
var modeTexts = map[string][]string{
	"latency":    {latencyText, transportsText, sizesText, outputText, agentText},
	"rate":       {rateText, transportsText, sizesText, outputText, agentText},
	"throughput": {throughputText, transportsText, sizesText, outputText, agentText},
	"conns":      {connsText, agentText},
	"restart":    {restartText},
	"fanout":     {fanoutText, agentText},
	"streams":    {streamsText, agentText},
}

// helpMode is the mode whose help -h shows: the -mode given before -h
// (mode, as parsed so far), else one given after it, else "" (the short
// help).
func helpMode(args []string, mode string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "mode" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		if slices.Contains(modes, value) {
			return value
		}
	}
	if slices.Contains(modes, mode) && mode != "latency" {
		return mode
	}
	return ""
}

// writeHelp writes -h: the short help with the common flags, or mode's
// help with its flags and those of every mode. It returns errHelp.
func writeHelp(w io.Writer, fs *flag.FlagSet, gs []*group, mode string) error {
	bw := bufio.NewWriter(w)
	if mode == "" {
		fmt.Fprint(bw, shortHelp, "\n", modeSummaries, "\nCommon flags:\n")
		for _, name := range commonFlags {
			writeFlag(bw, fs.Lookup(name))
		}
		fmt.Fprint(bw, "\nEvery flag, the transports and the output: pingpong -help-all\n")
		return flushHelp(bw)
	}
	fmt.Fprint(bw, strings.Join(modeTexts[mode], "\n\n"), "\n")
	for _, g := range gs {
		if g.modes != nil && g.serves(mode) {
			writeGroup(bw, fs, g)
		}
	}
	writeGroup(bw, fs, gs[0])
	return flushHelp(bw)
}

// writeHelpAll writes -help-all: every mode, every section, every flag.
// It returns errHelp.
func writeHelpAll(w io.Writer, fs *flag.FlagSet, gs []*group) error {
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, shortHelp, "\n", modeSummaries)
	for _, text := range []string{latencyText, rateText, throughputText, connsText, restartText, fanoutText,
		transportsText, sizesText, outputText, agentText, checkText} {
		fmt.Fprint(bw, "\n", text, "\n")
	}
	for _, g := range gs {
		writeGroup(bw, fs, g)
	}
	return flushHelp(bw)
}

func flushHelp(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return err
	}
	return errHelp
}

// writeGroup writes a group's title and its flags, one line each.
func writeGroup(w io.Writer, fs *flag.FlagSet, g *group) {
	fmt.Fprintf(w, "\nFlags of %s:\n", g.title)
	for _, name := range g.names {
		writeFlag(w, fs.Lookup(name))
	}
}

// writeFlag writes one flag as "  -name arg  usage (default d)", the
// usage wrapped under itself past 80 columns.
func writeFlag(w io.Writer, f *flag.Flag) {
	const indent, width = 20, 80
	arg, usage := argNames[f.Name], f.Usage
	if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" && !strings.Contains(usage, "(default") {
		usage += " (default " + d + ")"
	}
	line := strings.TrimRight("  -"+f.Name+" "+arg, " ")
	line += strings.Repeat(" ", max(indent-len([]rune(line)), 1))
	start := true // no word on the line yet
	for word := range strings.FieldsSeq(usage) {
		if !start && len([]rune(line))+1+len([]rune(word)) > width {
			fmt.Fprintln(w, line)
			line, start = strings.Repeat(" ", indent), true
		}
		if !start {
			line += " "
		}
		line, start = line+word, false
	}
	fmt.Fprintln(w, line)
}

// argNames name each flag's value in the help; boolean flags take none.
var argNames = map[string]string{
	"mode": "M", "cpus": "A,B", "agent": "mode", "rounds": "n", "duration": "d", "timeout": "d", "floor": "dir",
	"cleanup": "NAME", "transport": "list", "passes": "n", "sizes": "list", "count": "N", "idle": "list", "n": "N", "limit": "d", "warmup": "N|d", "size": "B",
	"protocol": "p", "slots": "n", "hgrm": "dir", "plot": "file", "out": "dir", "rate": "R", "batch": "n",
	"conns": "N", "pipeline": "K", "active": "N", "trials": "n", "procs": "n",
	"subs": "N", "policy": "p", "msgs": "N", "paced": "N",
}
