package affinity

import (
	"errors"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
)

// MaxCPU bounds every CPU number this package accepts or parses. It matches
// the kernel's compile-time ceiling (CONFIG_NR_CPUS ≤ 8192), so a hostile or
// corrupt sysfs file cannot make ParseList allocate without limit: ParseList
// works in a fixed MaxCPU-bit bitmap (1 KiB) and returns at most MaxCPU
// numbers whatever the input.
const MaxCPU = 8192

// ErrCPUList reports a CPU list that does not follow the kernel's cpulist
// format ("0-3,8,10-11", ranges may carry a ":used/group" stride).
var ErrCPUList = errors.New("affinity: bad cpu list")

// CPUSet is a sorted set of CPU numbers without duplicates. The zero value is
// the empty set. Functions in this package always return sets in canonical
// (sorted, unique) form; a CPUSet built by hand should go through Normalize
// before it is given to Contains, Intersect, Minus or Union.
type CPUSet []int

// cpuBitmap is the scratch form ParseList builds: one bit per CPU < MaxCPU.
type cpuBitmap [MaxCPU / 64]uint64

func (m *cpuBitmap) set(cpu int) { m[cpu/64] |= 1 << (uint(cpu) % 64) }

// cpus returns the members of m in ascending order (nil when m is empty).
func (m *cpuBitmap) cpus() CPUSet {
	var out CPUSet
	for i, w := range m {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			out = append(out, i*64+b)
			w &= w - 1
		}
	}
	return out
}

// ParseList parses the kernel's cpulist format as found in
// /sys/devices/system/cpu/online, isolated, nohz_full and in
// /proc/irq/*/smp_affinity_list: comma-separated decimal numbers and ranges
// "a-b", optionally with a stride "a-b:used/group" as the isolcpus= parameter
// allows ("0-7:2/4" is 0,1,4,5). Whitespace around the list (a trailing
// newline) and around each element is ignored; the empty string is the empty
// set (nil). Every number must be in [0, MaxCPU). Signs, empty elements,
// backward ranges and the kernel's symbolic forms ("all", "N") are refused
// with an error wrapping ErrCPUList that quotes the offending element. The
// result is canonical. Cost: one 1 KiB bitmap on the stack, O(len(s)·MaxCPU)
// time in the worst case.
func ParseList(s string) (CPUSet, error) {
	var m cpuBitmap
	err := parseList(s, func(a, b, used, group int) {
		for c := a; c <= b; c++ {
			if (c-a)%group < used {
				m.set(c)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return m.cpus(), nil
}

// ListContains reports whether cpu is in the cpulist s, which is read as
// ParseList reads it (the same grammar and errors), without building the
// set: no allocation unless s is not a cpulist. Cost: one pass over s.
func ListContains(s string, cpu int) (bool, error) {
	in := false
	err := parseList(s, func(a, b, used, group int) {
		if cpu >= a && cpu <= b && (cpu-a)%group < used {
			in = true
		}
	})
	return in && err == nil, err
}

// parseList is ParseList's grammar: it calls add for every element of s,
// the CPUs a…b of which those with (c−a) mod group < used (used = group
// = 1 without a stride), and returns the first error.
func parseList(s string, add func(a, b, used, group int)) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return msg.Errorf("%w: empty element in %q", ErrCPUList, s)
		}
		rng, stride, hasStride := strings.Cut(part, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := parseCPU(lo, s)
		if err != nil {
			return err
		}
		b := a
		if isRange {
			if b, err = parseCPU(hi, s); err != nil {
				return err
			}
			if b < a {
				return msg.Errorf("%w: range %q runs backwards in %q", ErrCPUList, part, s)
			}
		}
		used, group := 1, 1
		if hasStride {
			if !isRange {
				return msg.Errorf("%w: stride without range %q in %q", ErrCPUList, part, s)
			}
			u, g, ok := strings.Cut(stride, "/")
			if !ok {
				return msg.Errorf("%w: stride %q wants used/group in %q", ErrCPUList, stride, s)
			}
			used, err = parseUint(u, MaxCPU)
			if err != nil || used < 1 {
				return msg.Errorf("%w: stride %q in %q", ErrCPUList, stride, s)
			}
			group, err = parseUint(g, MaxCPU)
			if err != nil || group < used {
				return msg.Errorf("%w: stride %q in %q", ErrCPUList, stride, s)
			}
		}
		add(a, b, used, group)
	}
	return nil
}

func parseCPU(tok, whole string) (int, error) {
	n, err := parseUint(tok, MaxCPU-1)
	if err != nil {
		return 0, msg.Errorf("%w: cpu %q in %q (want 0…%d)", ErrCPUList, tok, whole, MaxCPU-1)
	}
	return n, nil
}

// errNotUint is internal: callers wrap their own sentinel.
var errNotUint = errors.New("not an unsigned decimal")

// parseUint accepts only ASCII digits (no sign, no blanks inside) with a
// value ≤ max; surrounding blanks are trimmed.
func parseUint(tok string, max int) (int, error) {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return 0, errNotUint
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < '0' || c > '9' {
			return 0, errNotUint
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, errNotUint
		}
	}
	return n, nil
}

// Normalize sorts s and removes duplicates, in place; it returns the result.
func (s CPUSet) Normalize() CPUSet {
	slices.Sort(s)
	return slices.Compact(s)
}

// Contains reports whether cpu is in s. Cost: binary search.
func (s CPUSet) Contains(cpu int) bool {
	_, ok := slices.BinarySearch(s, cpu)
	return ok
}

// Intersect returns the CPUs in both s and t (both canonical). Cost: one
// merge pass; the result is a new slice, nil when empty.
func (s CPUSet) Intersect(t CPUSet) CPUSet {
	var out CPUSet
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		switch {
		case s[i] < t[j]:
			i++
		case s[i] > t[j]:
			j++
		default:
			out = append(out, s[i])
			i++
			j++
		}
	}
	return out
}

// Minus returns the CPUs in s that are not in t (both canonical). Cost: one
// merge pass; the result is a new slice, nil when empty.
func (s CPUSet) Minus(t CPUSet) CPUSet {
	var out CPUSet
	j := 0
	for _, c := range s {
		for j < len(t) && t[j] < c {
			j++
		}
		if j < len(t) && t[j] == c {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Union returns the CPUs in s or t (both canonical). Cost: one merge pass;
// the result is a new slice, nil when empty.
func (s CPUSet) Union(t CPUSet) CPUSet {
	var out CPUSet
	i, j := 0, 0
	for i < len(s) || j < len(t) {
		switch {
		case j == len(t) || (i < len(s) && s[i] < t[j]):
			out = append(out, s[i])
			i++
		case i == len(s) || t[j] < s[i]:
			out = append(out, t[j])
			j++
		default:
			out = append(out, s[i])
			i++
			j++
		}
	}
	return out
}

// String formats s in the kernel's cpulist format, collapsing runs into
// ranges: {0,1,2,3,8,10,11} → "0-3,8,10-11". The empty set is "". For a
// canonical s within [0, MaxCPU), ParseList(s.String()) gives s back.
func (s CPUSet) String() string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}
