package affinity

// unionFind over indexes 0…n-1.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u unionFind) find(i int) int {
	for u[i] != i {
		u[i] = u[u[i]]
		i = u[i]
	}
	return i
}

func (u unionFind) union(i, j int) {
	a, b := u.find(i), u.find(j)
	if a < b {
		u[b] = a
	} else {
		u[a] = b
	}
}

// number gives each group a dense id in order of its lowest member and
// returns the id of every index plus each group's members (as CPU IDs).
func (u unionFind) number(ids CPUSet) (group []int, members []CPUSet) {
	group = make([]int, len(u))
	byRoot := map[int]int{}
	for i := range u {
		r := u.find(i)
		g, ok := byRoot[r]
		if !ok {
			g = len(members)
			byRoot[r] = g
			members = append(members, nil)
		}
		group[i] = g
		members[g] = append(members[g], ids[i])
	}
	return group, members
}
