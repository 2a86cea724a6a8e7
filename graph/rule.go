package graph

// Eta returns eta_v, the first inference step at which e_v can be non-zero when the
// predictions move with the states (standard PC, variance-scaled PC, Z-IL; docs/design.md
// §11): 0 for the output, min(Tau(v), Tau(p) over hidden parents p) for a hidden node,
// Never for the input. A generic batch makes it non-zero exactly there.
func (g *Graph) Eta(v int) int { return g.eta[g.node(v)] }

// Tau returns tau_v, the first step at which x_v can move: the shortest-path distance from
// v to the output in the moralised graph, through hidden nodes. Never for the input and
// the output, which are clamped.
func (g *Graph) Tau(v int) int { return g.tau[g.node(v)] }

// EtaFixed returns the first step at which e_v can be non-zero under fixed predictions
// (FPA-PC): e_v then changes only through its children's errors, so this is the shortest
// directed path from v to the output. Never for the input.
func (g *Graph) EtaFixed(v int) int { return g.etaFixed[g.node(v)] }

// LongestPath returns the longest directed path from v to the output. Under FPA-PC with
// gamma 1 a path of length k brings its term of e_v at step k, so e_v is final from step
// LongestPath(v) on, and T >= LongestPath(l+1) makes weight layer l's update backprop's.
// The chain edges make it H+1-v, the chain's distance, whatever the skips.
func (g *Graph) LongestPath(v int) int { return g.longest[g.node(v)] }

// PathLengths returns the lengths of the directed paths from v to the output, ascending,
// from EtaFixed(v) to LongestPath(v). Under FPA-PC with gamma 1, e_v(t) is the sum of
// the terms of the paths of length at most t, so these are the steps at which e_v takes a
// new value: on a chain the one step d_l, with skips one per distinct length.
func (g *Graph) PathLengths(v int) []int {
	var ls []int
	for k, word := range g.lengths[g.node(v)] {
		for b := range 64 {
			if word&(1<<b) != 0 {
				ls = append(ls, 64*k+b)
			}
		}
	}
	return ls
}

// distances fills eta, tau, etaFixed, longest and lengths.
// The chain edges link every hidden node to the output, so every Tau is found.
func (g *Graph) distances() {
	n, out := len(g.widths), g.Output()
	g.tau = moralDistances(g.moral, out)
	g.eta = make([]int, n)
	g.eta[0], g.eta[out] = Never, 0
	for v := 1; v < out; v++ {
		e := g.tau[v]
		for _, p := range g.parents[v] {
			if p != 0 {
				e = min(e, g.tau[p])
			}
		}
		g.eta[v] = e
	}
	// Every edge runs upward, so descending node order is a reverse topological order.
	g.etaFixed = make([]int, n)
	g.longest = make([]int, n)
	g.lengths = make([][]uint64, n)
	words := (n + 63) / 64 // a path has at most H+1 < n edges
	g.lengths[out] = make([]uint64, words)
	g.lengths[out][0] = 1
	for v := out - 1; v >= 0; v-- {
		short, long := -1, -1
		g.lengths[v] = make([]uint64, words)
		for _, c := range g.children[v] {
			shiftOr(g.lengths[v], g.lengths[c])
			if short < 0 || g.etaFixed[c] < short {
				short = g.etaFixed[c]
			}
			long = max(long, g.longest[c])
		}
		g.etaFixed[v], g.longest[v] = short+1, long+1
	}
	g.etaFixed[0] = Never
}

// moralDistances returns the breadth-first distance from out to every node over the
// moralised graph, expanding only hidden nodes: the input is clamped, so a path through it
// moves nothing. Unreached nodes, the input and the output's own Tau are Never.
func moralDistances(moral [][]int, out int) []int {
	dist := make([]int, len(moral))
	for v := range dist {
		dist[v] = Never
	}
	frontier := []int{out}
	for d := 1; len(frontier) > 0; d++ {
		var next []int
		for _, u := range frontier {
			for _, v := range moral[u] {
				if v != 0 && v != out && dist[v] == Never {
					dist[v] = d
					next = append(next, v)
				}
			}
		}
		frontier = next
	}
	return dist
}

// shiftOr sets dst |= src << 1, over a bit set of words.
func shiftOr(dst, src []uint64) {
	var carry uint64
	for k, w := range src {
		dst[k] |= w<<1 | carry
		carry = w >> 63
	}
}
