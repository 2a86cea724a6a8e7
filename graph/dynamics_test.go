package graph_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/graph"
)

// This file checks the rule against the dynamics it is about: a small float64
// simulation of PC inference on a graph, written from docs/design.md §2 and §11 and
// independent of the rest of pcnet, whose errors must first be non-zero exactly at the
// steps the graph predicts.

// mat is a batch: rows of one node's values.
type mat [][]float64

type act struct{ f, df func(float64) float64 }

var (
	linear = act{func(v float64) float64 { return v }, func(float64) float64 { return 1 }}
	tanh   = act{math.Tanh, func(v float64) float64 { t := math.Tanh(v); return 1 - t*t }}
	relu   = act{func(v float64) float64 { return max(v, 0) }, func(v float64) float64 {
		if v > 0 {
			return 1
		}
		return 0
	}}
)

// simLayer maps node l to node l+1: out(scale * in(x) Wᵀ + b), plus x itself when
// identity is set (a residual layer).
type simLayer struct {
	w        [][]float64 // rows: outputs
	b        []float64   // nil: no bias
	scale    float64
	in, out  act
	identity bool
}

func (l simLayer) pre(x []float64) []float64 {
	a := make([]float64, len(l.w))
	for o, row := range l.w {
		s := 0.0
		for i, wi := range row {
			s += wi * l.in.f(x[i])
		}
		a[o] = l.scale * s
		if l.b != nil {
			a[o] += l.b[o]
		}
	}
	return a
}

func (l simLayer) forward(x mat) mat {
	y := make(mat, len(x))
	for r, xr := range x {
		a := l.pre(xr)
		for o := range a {
			a[o] = l.out.f(a[o])
			if l.identity {
				a[o] += xr[o]
			}
		}
		y[r] = a
	}
	return y
}

// vjp returns Jᵀc, the layer's input VJP at x: c + scale ((c ⊙ out'(a)) W) ⊙ in'(x).
func (l simLayer) vjp(x, c mat) mat {
	g := make(mat, len(x))
	for r, xr := range x {
		a := l.pre(xr)
		gr := make([]float64, len(xr))
		for o, row := range l.w {
			d := c[r][o] * l.out.df(a[o])
			for i, wi := range row {
				gr[i] += d * wi
			}
		}
		for i := range gr {
			gr[i] *= l.scale * l.in.df(xr[i])
			if l.identity {
				gr[i] += c[r][i]
			}
		}
		g[r] = gr
	}
	return g
}

// sim is a network on a graph: layer l maps node l to node l+1, and each skip i -> j adds
// x_i to mu_j.
type sim struct {
	g      *graph.Graph
	layers []simLayer
}

func randMat(r *rand.Rand, rows, cols int, sd float64) mat {
	m := make(mat, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j] = sd * r.NormFloat64()
		}
	}
	return m
}

// newSim draws the weights: a chain's layers are dense tanh layers with biases (the
// last linear), a residual network's are μPC's (§11) with phi as the activation.
func newSim(r *rand.Rand, g *graph.Graph, phi act) sim {
	w := g.Widths()
	h := g.H()
	s := sim{g: g}
	for l := 0; l <= h; l++ {
		in, out := w[l], w[l+1]
		ly := simLayer{w: randMat(r, out, in, 1), scale: 1, in: linear, out: linear}
		if g.Shape() == graph.Chain {
			ly.scale = 1 / math.Sqrt(float64(in))
			ly.b = randMat(r, 1, out, 0.1)[0]
			if l < h {
				ly.out = tanh
			}
		} else {
			switch {
			case l == 0:
				ly.scale = 1 / math.Sqrt(float64(in))
			case l < h:
				ly.scale, ly.in, ly.identity = 1/math.Sqrt(float64(in*(h+1))), phi, true
			default:
				ly.scale, ly.in = 1/float64(in), phi
			}
		}
		s.layers = append(s.layers, ly)
	}
	return s
}

// mu returns node v's prediction from the states x: its layer's output plus the skips.
func (s sim) mu(v int, x []mat) mat {
	m := s.layers[v-1].forward(x[v-1])
	for _, p := range s.g.Parents(v) {
		if p == v-1 {
			continue
		}
		for r := range m {
			for i := range m[r] {
				m[r][i] += x[p][r][i]
			}
		}
	}
	return m
}

// feedback returns the sum over v's children c of J_cᵀ e_c with the Jacobians at x: the
// layer's input VJP for the chain edge, e_c itself for a skip.
func (s sim) feedback(v int, x, e []mat) mat {
	f := make(mat, len(x[v]))
	for r := range f {
		f[r] = make([]float64, len(x[v][r]))
	}
	for _, c := range s.g.Children(v) {
		back := e[c]
		if c == v+1 {
			back = s.layers[v].vjp(x[v], e[c])
		}
		for r := range f {
			for i := range f[r] {
				f[r][i] += back[r][i]
			}
		}
	}
	return f
}

// feedForward returns x(0): the input, mu_v in forward order, the target at the output.
func (s sim) feedForward(r *rand.Rand, batch int) []mat {
	w := s.g.Widths()
	out := s.g.Output()
	x := make([]mat, out+1)
	x[0] = randMat(r, batch, w[0], 1)
	for v := 1; v < out; v++ {
		x[v] = s.mu(v, x)
	}
	x[out] = randMat(r, batch, w[out], 1)
	return x
}

func nonzero(m mat) bool {
	for _, row := range m {
		for _, v := range row {
			if v != 0 {
				return true
			}
		}
	}
	return false
}

func equal(a, b mat) bool {
	for r := range a {
		for i := range a[r] {
			if a[r][i] != b[r][i] {
				return false
			}
		}
	}
	return true
}

func sub(a, b mat) mat {
	d := make(mat, len(a))
	for r := range a {
		d[r] = make([]float64, len(a[r]))
		for i := range a[r] {
			d[r][i] = a[r][i] - b[r][i]
		}
	}
	return d
}

// standardPC runs T Jacobi steps of standard PC (§2, every precision 1) and returns, per
// node, the first step at which e_v was non-zero and the first at which x_v had moved
// (-1: never), e_v = x_v - mu_v and x_v <- x_v - gamma (e_v - sum_c J_cᵀ e_c).
func (s sim) standardPC(x []mat, gamma float64, steps int) (firstE, firstX []int) {
	out := s.g.Output()
	x0 := append([]mat(nil), x...)
	firstE, firstX = fill(out+1, -1), fill(out+1, -1)
	e := make([]mat, out+1)
	for t := 0; t <= steps; t++ {
		for v := 1; v <= out; v++ {
			if firstX[v] < 0 && !equal(x[v], x0[v]) {
				firstX[v] = t
			}
			e[v] = sub(x[v], s.mu(v, x))
			if firstE[v] < 0 && nonzero(e[v]) {
				firstE[v] = t
			}
		}
		next := append([]mat(nil), x...)
		for v := 1; v < out; v++ {
			f := s.feedback(v, x, e)
			next[v] = make(mat, len(x[v]))
			for r := range f {
				next[v][r] = make([]float64, len(f[r]))
				for i := range f[r] {
					next[v][r][i] = x[v][r][i] - gamma*(e[v][r][i]-f[r][i])
				}
			}
		}
		x = next
	}
	return firstE, firstX
}

// fixedPC runs T steps of FPA-PC (§2): mu and the Jacobians stay at the feed-forward
// values, e_out is fixed, e_v <- e_v - gamma (e_v - sum_c J_cᵀ e_c), which with gamma 1
// is e_v <- sum_c J_cᵀ e_c. It returns per node the first step at which e_v was
// non-zero (-1: never) and the steps at which it changed.
func (s sim) fixedPC(x []mat, gamma float64, steps int) (firstE []int, changes [][]int) {
	out := s.g.Output()
	firstE, changes = fill(out+1, -1), make([][]int, out+1)
	e := make([]mat, out+1)
	for v := 1; v < out; v++ {
		e[v] = sub(x[v], x[v])
	}
	e[out] = sub(x[out], s.mu(out, x))
	for t := 0; t <= steps; t++ {
		for v := 1; v <= out; v++ {
			if firstE[v] < 0 && nonzero(e[v]) {
				firstE[v] = t
			}
		}
		next := append([]mat(nil), e...)
		for v := 1; v < out; v++ {
			f := s.feedback(v, x, e)
			if gamma != 1 {
				for r := range f {
					for i := range f[r] {
						f[r][i] = e[v][r][i] - gamma*(e[v][r][i]-f[r][i])
					}
				}
			}
			if !equal(f, e[v]) {
				changes[v] = append(changes[v], t+1)
			}
			next[v] = f
		}
		e = next
	}
	return firstE, changes
}

func fill(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestRuleMatchesDynamics runs the simulation on chains, residual networks and long-skip
// graphs and checks, node by node and exactly, that the first non-zero step of e_v is
// Eta(v) and the first move of x_v is Tau(v) under standard PC, and that under FPA-PC
// the first non-zero step is EtaFixed(v) and, with gamma 1, e_v changes exactly at the
// steps PathLengths(v), the last of them LongestPath(v).
func TestRuleMatchesDynamics(t *testing.T) {
	type netCase struct {
		name   string
		widths []int
		shape  graph.Shape
		skips  string
		phi    act
	}
	cases := []netCase{
		{"chain H=1", uniform(5, 1, 4, 3), graph.Chain, "", tanh},
		{"chain H=6", uniform(5, 6, 4, 3), graph.Chain, "", tanh},
		{"residual H=6 tanh", uniform(5, 6, 4, 3), graph.Residual, "", tanh},
		{"residual H=8 relu", uniform(5, 8, 4, 3), graph.Residual, "", relu},
		{"design example", uniform(5, 9, 4, 3), graph.Chain, "1:5,3:8", tanh},
		{"design example residual", uniform(5, 9, 4, 3), graph.Residual, "1:5,3:8", tanh},
		{"skip into the output", uniform(5, 7, 4, 4), graph.Chain, "2:8", tanh},
		{"skip from the input", uniform(4, 6, 4, 3), graph.Chain, "0:4,2:6", tanh},
		{"nested skips", uniform(5, 9, 4, 3), graph.Chain, "1:8,2:5,4:7", tanh},
		{"skips end to end", uniform(5, 8, 4, 3), graph.Residual, "1:3,3:5,5:7", relu},
		{"fan into one node", uniform(5, 8, 4, 3), graph.Chain, "1:7,3:7,4:7", tanh},
		// x_4 moves at step 2 (through node 9), which moves e_5 at step 2 and x_1, 5's
		// other parent, at step 3: only the moralised graph's edge 1-4 says so.
		{"co-parent nearer than the child", uniform(5, 9, 4, 3), graph.Chain, "1:5,4:9", tanh},
		// The input and node 4 are the parents of node 5, but x_0 is clamped: no wave runs
		// 4 -> 0 -> 1, and x_1 waits for the chain 1-2-3-4.
		{"no path through the input", uniform(4, 8, 4, 4), graph.Chain, "0:5,4:9", tanh},
		{"co-parent nearer, residual", uniform(5, 9, 4, 3), graph.Residual, "1:5,4:9", relu},
	}
	for _, c := range cases {
		skips, err := graph.ParseSkips(c.skips)
		require.NoError(t, err)
		g, err := graph.New(c.widths, c.shape, skips)
		require.NoError(t, err)
		checkDynamics(t, c.name, g, c.phi, rand.New(rand.NewPCG(21, uint64(len(cases)))))
	}
	r := rand.New(rand.NewPCG(21, 2))
	for k := range 30 {
		shape := graph.Shape(k % 2)
		g := randomGraph(t, r, 10, 5, shape)
		checkDynamics(t, fmt.Sprintf("random %d", k), g, tanh, r)
	}
}

func checkDynamics(t *testing.T, name string, g *graph.Graph, phi act, r *rand.Rand) {
	t.Run(name+" "+g.String(), func(t *testing.T) {
		s := newSim(r, g, phi)
		out := g.Output()
		steps := g.H() + 3 // past every Eta, EtaFixed and LongestPath
		for _, gamma := range []float64{0.2, 0.5, 1} {
			firstE, firstX := s.standardPC(s.feedForward(r, 3), gamma, steps)
			firstF, changesF := s.fixedPC(s.feedForward(r, 3), gamma, steps)
			for v := 1; v <= out; v++ {
				require.Equal(t, g.Eta(v), firstE[v], "gamma %v: first non-zero step of e_%d", gamma, v)
				require.Equal(t, g.EtaFixed(v), firstF[v], "gamma %v, FPA: first non-zero step of e_%d", gamma, v)
				if v < out {
					require.Equal(t, g.Tau(v), firstX[v], "gamma %v: first move of x_%d", gamma, v)
				}
				if v < out && gamma == 1 {
					require.Equal(t, g.PathLengths(v), changesF[v], "FPA, gamma 1: the steps at which e_%d changed", v)
					require.Equal(t, g.LongestPath(v), changesF[v][len(changesF[v])-1], "FPA, gamma 1: last change of e_%d", v)
				}
			}
		}
	})
}
