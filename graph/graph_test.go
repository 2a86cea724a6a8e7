package graph_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/pcnet"
)

// uniform returns the widths of a network of h hidden nodes of width w between an input
// of in and an output of out.
func uniform(in, h, w, out int) []int {
	widths := []int{in}
	for range h {
		widths = append(widths, w)
	}
	return append(widths, out)
}

func TestNewErrors(t *testing.T) {
	w := uniform(8, 4, 5, 3) // nodes 0..5
	cases := []struct {
		name   string
		widths []int
		shape  graph.Shape
		skips  []graph.Skip
		is     error
		msg    string
	}{
		{"no hidden", []int{8, 3}, graph.Chain, nil, graph.ErrWidths,
			"graph: bad widths: 2 widths, want H+2 >= 3 (input, H >= 1 hidden, output)"},
		{"zero width", []int{8, 0, 3}, graph.Chain, nil, graph.ErrWidths,
			"graph: bad widths: node 1 has width 0, want >= 1"},
		{"residual widths", []int{8, 5, 5, 6, 3}, graph.Residual, nil, graph.ErrWidths,
			"graph: bad widths: a residual network's hidden nodes share one width, but node 1 has 5 and node 3 has 6"},
		{"shape", w, graph.Shape(7), nil, graph.ErrShape,
			"graph: unknown shape 7 (want chain or residual)"},
		{"past the output", w, graph.Chain, []graph.Skip{{1, 6}}, graph.ErrNodeRange,
			"graph: node out of range: skip 1:6 names node 6; the nodes are 0..5 (H = 4)"},
		{"negative", w, graph.Chain, []graph.Skip{{-1, 3}}, graph.ErrNodeRange,
			"graph: node out of range: skip -1:3 names node -1; the nodes are 0..5 (H = 4)"},
		{"chain edge", w, graph.Chain, []graph.Skip{{2, 3}}, graph.ErrSkipLength,
			"graph: skip too short: skip 2:3: want 2 -> j with j >= 4 (the chain already links neighbours; skips run upward)"},
		{"downward", w, graph.Chain, []graph.Skip{{4, 1}}, graph.ErrSkipLength,
			"graph: skip too short: skip 4:1: want 4 -> j with j >= 6 (the chain already links neighbours; skips run upward)"},
		{"duplicate", w, graph.Chain, []graph.Skip{{1, 3}, {2, 4}, {1, 3}}, graph.ErrDuplicate,
			"graph: duplicate skip: 1:3 given twice"},
		{"into the output", w, graph.Chain, []graph.Skip{{2, 5}}, graph.ErrSkipWidths,
			"graph: widths differ: skip 2:5 adds x_2 to mu_5, but node 2 has width 5 and node 5 has width 3"},
		{"from the input", w, graph.Residual, []graph.Skip{{0, 3}}, graph.ErrSkipWidths,
			"graph: widths differ: skip 0:3 adds x_0 to mu_3, but node 0 has width 8 and node 3 has width 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := graph.New(c.widths, c.shape, c.skips)
			require.Nil(t, g)
			require.ErrorIs(t, err, c.is)
			require.EqualError(t, err, c.msg)
		})
	}
}

func TestParseSkips(t *testing.T) {
	cases := []struct {
		in   string
		want []graph.Skip
		msg  string
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{"1:4", []graph.Skip{{1, 4}}, ""},
		{"1:4,3:8", []graph.Skip{{1, 4}, {3, 8}}, ""},
		{" 3:8 , 0:2", []graph.Skip{{3, 8}, {0, 2}}, ""},
		{"1:4,3-8", nil, `graph: bad skip "3-8" (item 2 of "1:4,3-8"): want FROM:TO`},
		{"1:4,", nil, `graph: bad skip "" (item 2 of "1:4,"): want FROM:TO`},
		{"a:4", nil, `graph: bad skip "a:4" (item 1 of "a:4"): "a" is not a node number (want an integer >= 0)`},
		{"1:-4", nil, `graph: bad skip "1:-4" (item 1 of "1:-4"): "-4" is not a node number (want an integer >= 0)`},
		{"1:4:6", nil, `graph: bad skip "1:4:6" (item 1 of "1:4:6"): "4:6" is not a node number (want an integer >= 0)`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := graph.ParseSkips(c.in)
			if c.msg != "" {
				require.ErrorIs(t, err, graph.ErrSkipSyntax)
				require.EqualError(t, err, c.msg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			if len(got) > 0 {
				back, err := graph.ParseSkips(graph.FormatSkips(got))
				require.NoError(t, err)
				require.Equal(t, got, back)
			}
		})
	}
}

func TestParseShape(t *testing.T) {
	for _, s := range []graph.Shape{graph.Chain, graph.Residual} {
		got, err := graph.ParseShape(s.String())
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
	_, err := graph.ParseShape("resnet")
	require.ErrorIs(t, err, graph.ErrShape)
	require.EqualError(t, err, `graph: unknown shape "resnet" (want chain or residual)`)
}

// TestEdges checks the parents, children and moralised neighbours of §11's example, and
// that the skips come back sorted whatever order they were given in.
func TestEdges(t *testing.T) {
	g, err := graph.New(uniform(4, 9, 4, 2), graph.Chain, []graph.Skip{{3, 8}, {1, 5}})
	require.NoError(t, err)
	require.Equal(t, []graph.Skip{{1, 5}, {3, 8}}, g.Skips())
	require.Equal(t, "chain H=9 skips 1:5,3:8", g.String())
	cases := []struct {
		v                     int
		parents, children, nb []int
	}{
		{0, nil, []int{1}, []int{1}},
		{1, []int{0}, []int{2, 5}, []int{0, 2, 4, 5}},
		{3, []int{2}, []int{4, 8}, []int{2, 4, 7, 8}},
		{4, []int{3}, []int{5}, []int{1, 3, 5}},
		{5, []int{1, 4}, []int{6}, []int{1, 4, 6}},
		{7, []int{6}, []int{8}, []int{3, 6, 8}},
		{8, []int{3, 7}, []int{9}, []int{3, 7, 9}},
		{10, []int{9}, nil, []int{9}},
	}
	for _, c := range cases {
		require.Equal(t, c.parents, nilIfEmpty(g.Parents(c.v)), "parents of %d", c.v)
		require.Equal(t, c.children, nilIfEmpty(g.Children(c.v)), "children of %d", c.v)
		require.Equal(t, c.nb, nilIfEmpty(g.Neighbours(c.v)), "neighbours of %d", c.v)
	}
	require.PanicsWithValue(t, "graph: node 11 out of range 0..10", func() { g.Eta(11) })
}

func nilIfEmpty(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestDesignExample is docs/design.md §11's example, node by node.
func TestDesignExample(t *testing.T) {
	g, err := graph.New(uniform(4, 9, 4, 2), graph.Chain, []graph.Skip{{1, 5}, {3, 8}})
	require.NoError(t, err)
	want := []int{5, 4, 3, 3, 4, 4, 3, 2, 1}
	for v := 1; v <= 9; v++ {
		require.Equal(t, want[v-1], g.Eta(v), "eta of node %d", v)
	}
	require.Equal(t, 0, g.Eta(10))
	require.Equal(t, graph.Never, g.Eta(0))
	require.Equal(t, graph.Never, g.Tau(0))
	require.Equal(t, graph.Never, g.Tau(10))
	require.Equal(t, graph.Never, g.EtaFixed(0))
}

// TestChainIsTodaysDistance checks that on a chain, and on a residual network, every
// node's Eta, Tau and EtaFixed are the distance pcnet labels its nodes with today
// (pcnet.Config.NodeInfo), and LongestPath too.
func TestChainIsTodaysDistance(t *testing.T) {
	for _, shape := range []graph.Shape{graph.Chain, graph.Residual} {
		for h := 1; h <= 12; h++ {
			g, err := graph.New(uniform(6, h, 3, 2), shape, nil)
			require.NoError(t, err)
			for l := 1; l <= h; l++ {
				d := pcnet.Config{}.NodeInfo(h, l).Distance
				require.Equal(t, d, g.Eta(l), "%v node %d", g, l)
				require.Equal(t, d, g.Tau(l), "%v node %d", g, l)
				require.Equal(t, d, g.EtaFixed(l), "%v node %d", g, l)
				require.Equal(t, d, g.LongestPath(l), "%v node %d", g, l)
			}
		}
	}
}

// randomGraph draws a graph of 1..maxH hidden nodes of one width with up to maxSkips
// distinct long skips, from the input or into the output too when the widths allow it.
func randomGraph(t *testing.T, r *rand.Rand, maxH, maxSkips int, shape graph.Shape) *graph.Graph {
	t.Helper()
	h := 1 + r.IntN(maxH)
	w := 3
	in, out := w, w
	if r.IntN(2) == 0 {
		in = w + 2 // no skip from the input
	}
	widths := uniform(in, h, w, out)
	var skips []graph.Skip
	for range r.IntN(maxSkips + 1) {
		i := r.IntN(h)           // 0..H-1
		j := i + 2 + r.IntN(h-i) // i+2..H+1
		s := graph.Skip{From: i, To: j}
		if widths[i] == widths[j] && !slices.Contains(skips, s) {
			skips = append(skips, s)
		}
	}
	g, err := graph.New(widths, shape, skips)
	require.NoError(t, err)
	return g
}

// TestRuleIsTheRecurrences iterates §11's recurrences directly to their fixed point, from
// "never" everywhere but the output, and checks Eta and Tau against it on random graphs;
// EtaFixed against the recurrence with fixed predictions, eta_v = 1 + min over children,
// and LongestPath against H+1-v.
func TestRuleIsTheRecurrences(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 1))
	for k := range 330 {
		maxH, maxSkips := 14, 6
		if k >= 300 { // deep: path lengths past one 64-bit word
			maxH, maxSkips = 140, 4
		}
		g := randomGraph(t, r, maxH, maxSkips, graph.Chain)
		eta, tau, fixed := iterateRecurrences(g)
		out := g.Output()
		for v := 1; v < out; v++ {
			require.Equal(t, eta[v], g.Eta(v), "%v: eta of node %d", g, v)
			require.Equal(t, tau[v], g.Tau(v), "%v: tau of node %d", g, v)
			require.Equal(t, fixed[v], g.EtaFixed(v), "%v: fixed eta of node %d", g, v)
			require.Equal(t, out-v, g.LongestPath(v), "%v: longest path of node %d", g, v)
			require.LessOrEqual(t, g.Eta(v), g.EtaFixed(v), "%v: node %d", g, v)
			require.Equal(t, pathLengths(g, v), g.PathLengths(v), "%v: path lengths of node %d", g, v)
		}
	}
}

const inf = 1 << 30

// iterateRecurrences returns the least fixed point of §11's recurrences, found by
// applying them to every node until nothing changes; inf marks "never".
func iterateRecurrences(g *graph.Graph) (eta, tau, fixed []int) {
	out := g.Output()
	eta, tau, fixed = make([]int, out+1), make([]int, out+1), make([]int, out+1)
	for v := range eta {
		eta[v], tau[v], fixed[v] = inf, inf, inf
	}
	eta[out], fixed[out] = 0, 0
	for changed := true; changed; {
		changed = false
		set := func(p *int, v int) {
			if v < *p {
				*p, changed = v, true
			}
		}
		for v := 1; v < out; v++ {
			m, mf := eta[v], inf
			for _, c := range g.Children(v) {
				m, mf = min(m, eta[c]), min(mf, fixed[c])
			}
			set(&tau[v], 1+m)
			set(&fixed[v], 1+mf)
			e := tau[v]
			for _, p := range g.Parents(v) {
				if p != 0 {
					e = min(e, tau[p])
				}
			}
			set(&eta[v], e)
		}
	}
	return eta, tau, fixed
}

// pathLengths walks every directed path from v to the output and returns their distinct
// lengths, ascending.
func pathLengths(g *graph.Graph, v int) []int {
	seen := map[int]bool{}
	var walk func(u, length int)
	walk = func(u, length int) {
		if u == g.Output() {
			seen[length] = true
			return
		}
		for _, c := range g.Children(u) {
			walk(c, length+1)
		}
	}
	walk(v, 0)
	var ls []int
	for l := range seen {
		ls = append(ls, l)
	}
	slices.Sort(ls)
	return ls
}

// TestSingleSkip checks docs/design.md §11's statement that one skip i -> j on a chain
// brings x_i and every node below it j-i-1 steps closer to the output, while FPA-PC's
// errors below i come as much sooner.
func TestSingleSkip(t *testing.T) {
	for h := 2; h <= 10; h++ {
		for i := 0; i < h; i++ {
			for j := i + 2; j <= h+1; j++ {
				g, err := graph.New(uniform(4, h, 4, 4), graph.Chain, []graph.Skip{{i, j}})
				require.NoError(t, err)
				for v := 1; v <= i; v++ {
					d := h + 1 - v
					require.Equal(t, d-(j-i-1), g.Tau(v), "%v: tau of node %d", g, v)
					require.Equal(t, d-(j-i-1), g.EtaFixed(v), "%v: fixed eta of node %d", g, v)
				}
			}
		}
	}
}
