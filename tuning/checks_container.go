package tuning

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// cgroupPath returns this process's cgroup v2 path from /proc/self/cgroup
// (the "0::" line), or "" when there is none (cgroup v1 only).
func cgroupPath(h *host) (string, error) {
	s, err := readString(h.fsys, selfCgroupPath)
	if err != nil {
		return "", err
	}
	for l := range strings.SplitSeq(s, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok && strings.HasPrefix(p, "/") && !strings.Contains(p, "..") {
			return p, nil
		}
	}
	return "", nil
}

// checkCpuset reads the cgroup v2 cpuset this process may run on
// (cpuset.cpus.effective of its cgroup). A spinner CPU outside it cannot
// be pinned to: sched_setaffinity fails. ID "cpuset": crit when a spinner
// CPU is outside, info when it cannot be read (cgroup v1, no cpuset
// controller), ok otherwise.
func checkCpuset(h *host) []Finding {
	const id = "cpuset"
	if len(h.spinners) == 0 {
		return nil
	}
	p, err := cgroupPath(h)
	if err != nil || p == "" {
		if err == nil {
			err = fmt.Errorf("/%s: no cgroup v2 entry", selfCgroupPath)
		}
		return unknown(id, "this process's cpuset", err)
	}
	file := path.Join(cgroupRoot, p, "cpuset.cpus.effective")
	set, err := readList(h.fsys, file)
	if err != nil && p == "/" && notExist(err) {
		return one(id, OK, "this process is in the root cgroup: every online CPU is allowed", "cgroup /; "+err.Error(), "")
	}
	if err != nil {
		return unknown(id, "this process's cpuset", err)
	}
	ev := fmt.Sprintf("cgroup %s; /%s = %q", p, file, set.String())
	if out := h.spinners.Minus(set); len(out) > 0 {
		return one(id, Crit, "spinner "+cpus(out)+" "+isAre(out)+" outside this process's cpuset "+set.String()+": pinning to "+verb(out, "it", "them")+" fails", ev, lines(
			"# give the process those CPUs: Docker: docker run --cpuset-cpus="+h.spinners.String()+" …",
			"# Kubernetes: the kubelet's static CPU manager (--cpu-manager-policy=static) and a Guaranteed pod with integer CPU requests",
			"# systemd: systemctl set-property UNIT.service AllowedCPUs="+h.spinners.String()))
	}
	return one(id, OK, "the spinner CPUs are inside this process's cpuset", ev, "")
}

// containerSigns are what gives a container away: marker files, and words
// in the cgroup paths of this process and of PID 1.
var containerSigns = []string{"docker", "kubepods", "containerd", "libpod", "lxc", "crio"}

// inContainer returns what shows this process runs in a container, or "",
// and whether the sign is only a marker file (which a VM booted from a
// container image also has).
func inContainer(fsys fs.FS) (string, bool) {
	for _, f := range []string{selfCgroupPath, "proc/1/cgroup"} {
		s, err := readString(fsys, f)
		if err != nil {
			continue
		}
		for _, w := range containerSigns {
			if strings.Contains(s, w) {
				return fmt.Sprintf("/%s mentions %q", f, w), false
			}
		}
	}
	for _, f := range []string{".dockerenv", "run/.containerenv"} {
		if _, err := fs.Stat(fsys, f); err == nil {
			return "/" + f + " exists (a container runtime's marker; a VM booted from a container image has it too)", true
		}
	}
	return "", false
}

// checkContainer says whether Check runs in a container, and what it can
// and cannot see from there: the kernel command line, isolated CPUs, IRQ
// affinities and most sysctls are the host's (fixes are the host's to
// make); the cpuset is the container's. ID "container": info in a
// container, ok otherwise.
func checkContainer(h *host) []Finding {
	const id = "container"
	sign, markerOnly := inContainer(h.fsys)
	if sign == "" {
		return one(id, OK, "not in a container (no container cgroup, no marker file)", "", "")
	}
	sum := "in a container: the kernel command line, isolated CPUs, interrupts and sysctls shown are the host's, and their fixes must be made on the host; the cpuset is this container's"
	if markerOnly {
		sum = "maybe in a container (a marker file, no container cgroup): if so, " + sum[len("in a container: "):]
	}
	return one(id, Info, sum, sign, lines(
		"# Docker: --cpuset-cpus=<the host's isolated CPUs>; shared memory between containers needs --ipc=shareable/container:NAME or fd passing over a Unix socket",
		"# spinwire's segments are memfds, not /dev/shm files: --shm-size does not limit them (the memory cgroup does)",
		"# Kubernetes: kubelet --cpu-manager-policy=static, a Guaranteed pod with integer CPU requests; the reserved CPUs (--reserved-cpus) are the housekeeping ones",
		"# see tuning/README.md, \"Containers\""))
}
