package affinity

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCPU bounds every CPU number this package accepts or parses. It matches
// the kernel's compile-time ceiling (CONFIG_NR_CPUS ≤ 8192), so a hostile or
// corrupt sysfs file cannot make ParseList allocate without limit.
const MaxCPU = 8192

// ErrCPUList reports a CPU list that does not follow the kernel's cpulist
// format ("0-3,8,10-11", ranges may carry a ":used/group" stride).
var ErrCPUList = errors.New("affinity: bad cpu list")

// CPUSet is a sorted set of CPU numbers without duplicates. The zero value is
// the empty set. Functions in this package always return sets in canonical
// (sorted, unique) form; a CPUSet built by hand should go through Normalize.
type CPUSet []int

// ParseList parses the kernel's cpulist format as found in
// /sys/devices/system/cpu/online, isolated, nohz_full and in
// /proc/irq/*/smp_affinity_list: comma-separated numbers and ranges "a-b",
// optionally with a stride "a-b:used/group" as the isolcpus= parameter allows.
// Whitespace around the list (a trailing newline) is ignored; the empty string
// is the empty set. Every number must be in [0, MaxCPU).
func ParseList(s string) (CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var set CPUSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("%w: empty element in %q", ErrCPUList, s)
		}
		rng, stride, hasStride := strings.Cut(part, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := parseCPU(lo, s)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseCPU(hi, s); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("%w: range %q runs backwards in %q", ErrCPUList, part, s)
			}
		}
		used, group := 1, 1
		if hasStride {
			if !isRange {
				return nil, fmt.Errorf("%w: stride without range %q in %q", ErrCPUList, part, s)
			}
			u, g, ok := strings.Cut(stride, "/")
			if !ok {
				return nil, fmt.Errorf("%w: stride %q wants used/group in %q", ErrCPUList, stride, s)
			}
			if used, err = strconv.Atoi(u); err != nil || used < 1 {
				return nil, fmt.Errorf("%w: stride %q in %q", ErrCPUList, stride, s)
			}
			if group, err = strconv.Atoi(g); err != nil || group < used || group > MaxCPU {
				return nil, fmt.Errorf("%w: stride %q in %q", ErrCPUList, stride, s)
			}
		}
		for c := a; c <= b; c++ {
			if (c-a)%group < used {
				set = append(set, c)
			}
		}
	}
	return set.Normalize(), nil
}

func parseCPU(tok, whole string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(tok))
	if err != nil || n < 0 || n >= MaxCPU {
		return 0, fmt.Errorf("%w: cpu %q in %q (want 0…%d)", ErrCPUList, tok, whole, MaxCPU-1)
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

// Intersect returns the CPUs in both s and t.
func (s CPUSet) Intersect(t CPUSet) CPUSet {
	var out CPUSet
	for _, c := range s {
		if t.Contains(c) {
			out = append(out, c)
		}
	}
	return out
}

// Minus returns the CPUs in s that are not in t.
func (s CPUSet) Minus(t CPUSet) CPUSet {
	var out CPUSet
	for _, c := range s {
		if !t.Contains(c) {
			out = append(out, c)
		}
	}
	return out
}

// String formats s in the kernel's cpulist format, collapsing runs into
// ranges: {0,1,2,3,8,10,11} → "0-3,8,10-11". The empty set is "".
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
