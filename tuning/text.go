package tuning

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

func itoa(n int) string { return strconv.Itoa(n) }

// words formats CPUs for a shell loop: {2,3,5} → "2 3 5".
func words(set []int) string {
	s := make([]string, len(set))
	for i, c := range set {
		s[i] = itoa(c)
	}
	return strings.Join(s, " ")
}

// cpus names a CPU set for a sentence: "CPU 3", "CPUs 2-7", "no CPU".
func cpus(set affinity.CPUSet) string {
	switch len(set) {
	case 0:
		return "no CPU"
	case 1:
		return "CPU " + set.String()
	}
	return "CPUs " + set.String()
}

// verb picks the singular or plural form to agree with set.
func verb(set affinity.CPUSet, one, many string) string {
	if len(set) == 1 {
		return one
	}
	return many
}

func isAre(set affinity.CPUSet) string { return verb(set, "is", "are") }

// count formats n with the singular or plural phrase: count(1, "IRQ is",
// "IRQs are") = "1 IRQ is".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// union returns the sorted, duplicate-free union of the sets; the inputs are
// not modified.
func union(sets ...[]int) affinity.CPUSet {
	var out affinity.CPUSet
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
