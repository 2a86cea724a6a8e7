package graph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The errors New and ParseSkips wrap; the message around them names the value at fault.
var (
	ErrWidths     = errors.New("graph: bad widths")
	ErrShape      = errors.New("graph: unknown shape")
	ErrNodeRange  = errors.New("graph: node out of range")
	ErrSkipLength = errors.New("graph: skip too short")
	ErrDuplicate  = errors.New("graph: duplicate skip")
	ErrSkipWidths = errors.New("graph: widths differ")
	ErrSkipSyntax = errors.New("graph: bad skip")
)

// Never is what Eta, Tau and EtaFixed return for a node whose error or state never moves:
// the input's (clamped, no error) and, for Tau, the output's (clamped).
const Never = -1

// Shape is how a hidden layer maps its node to the next (docs/design.md §11).
type Shape int

const (
	// Chain is today's dense layer: mu_{l+1} = g_l(x_l W_l^T + b_l).
	Chain Shape = iota
	// Residual is μPC's pre-activation residual stream: mu_{l+1} = x_l + a_h phi(x_l) W_l^T
	// for l = 1..H-1, so the hidden nodes must be of one width. The identity skip stays
	// inside the layer: it adds no edge and changes no distance.
	Residual
)

// String returns the shape's name as the -arch flag spells it.
func (s Shape) String() string {
	switch s {
	case Chain:
		return "chain"
	case Residual:
		return "residual"
	}
	return fmt.Sprintf("Shape(%d)", int(s))
}

// ParseShape reads "chain" or "residual".
func ParseShape(s string) (Shape, error) {
	switch s {
	case "chain":
		return Chain, nil
	case "residual":
		return Residual, nil
	}
	return 0, fmt.Errorf("%w %q (want chain or residual)", ErrShape, s)
}

// Graph is a validated network graph with its distances computed. It is immutable and safe
// for concurrent use; the slices its methods return are copies.
type Graph struct {
	widths   []int
	shape    Shape
	skips    []Skip
	parents  [][]int
	children [][]int
	moral    [][]int // moralised neighbours, sorted
	eta      []int
	tau      []int
	etaFixed []int
	longest  []int
	lengths  [][]uint64 // bit k of node v: a directed path of length k from v to the output
}

// New builds the graph of a network with node widths widths[0..H+1] (H >= 1), a shape
// and long skips, in any order. It returns one error, wrapping one of the package's
// errors, for the first fault: widths too few or not positive, an unknown shape, hidden
// widths that differ under Residual, a skip with a node out of range, j < i+2, a skip
// given twice, or a skip between nodes of different widths.
func New(widths []int, shape Shape, skips []Skip) (*Graph, error) {
	if err := checkWidths(widths, shape); err != nil {
		return nil, err
	}
	out := len(widths) - 1
	sorted := slices.Clone(skips)
	slices.SortFunc(sorted, compareSkips)
	for k, s := range sorted {
		if err := checkSkip(s, widths); err != nil {
			return nil, err
		}
		if k > 0 && sorted[k-1] == s {
			return nil, fmt.Errorf("%w: %v given twice", ErrDuplicate, s)
		}
	}
	g := &Graph{widths: slices.Clone(widths), shape: shape, skips: sorted}
	g.parents = make([][]int, out+1)
	g.children = make([][]int, out+1)
	for l := 0; l < out; l++ {
		g.link(l, l+1)
	}
	for _, s := range sorted {
		g.link(s.From, s.To)
	}
	for v := range g.parents {
		slices.Sort(g.parents[v])
		slices.Sort(g.children[v])
	}
	g.moral = moralise(g.parents, g.children)
	g.distances()
	return g, nil
}

func (g *Graph) link(from, to int) {
	g.children[from] = append(g.children[from], to)
	g.parents[to] = append(g.parents[to], from)
}

func checkWidths(widths []int, shape Shape) error {
	if len(widths) < 3 {
		return fmt.Errorf("%w: %d widths, want H+2 >= 3 (input, H >= 1 hidden, output)", ErrWidths, len(widths))
	}
	for v, w := range widths {
		if w < 1 {
			return fmt.Errorf("%w: node %d has width %d, want >= 1", ErrWidths, v, w)
		}
	}
	switch shape {
	case Chain:
	case Residual:
		hidden := widths[1 : len(widths)-1]
		for v, w := range hidden {
			if w != hidden[0] {
				return fmt.Errorf("%w: a residual network's hidden nodes share one width, but node 1 has %d and node %d has %d",
					ErrWidths, hidden[0], v+1, w)
			}
		}
	default:
		return fmt.Errorf("%w %d (want chain or residual)", ErrShape, int(shape))
	}
	return nil
}

func checkSkip(s Skip, widths []int) error {
	out := len(widths) - 1
	for _, v := range [2]int{s.From, s.To} {
		if v < 0 || v > out {
			return fmt.Errorf("%w: skip %v names node %d; the nodes are 0..%d (H = %d)", ErrNodeRange, s, v, out, out-1)
		}
	}
	if s.To < s.From+2 {
		return fmt.Errorf("%w: skip %v: want %d -> j with j >= %d (the chain already links neighbours; skips run upward)",
			ErrSkipLength, s, s.From, s.From+2)
	}
	if wi, wj := widths[s.From], widths[s.To]; wi != wj {
		return fmt.Errorf("%w: skip %v adds x_%d to mu_%d, but node %d has width %d and node %d has width %d",
			ErrSkipWidths, s, s.From, s.To, s.From, wi, s.To, wj)
	}
	return nil
}

// moralise returns every node's neighbours in the moralised graph: its parents, its
// children and the other parents of each of its children, sorted, without repeats.
func moralise(parents, children [][]int) [][]int {
	moral := make([][]int, len(parents))
	for v := range parents {
		nb := slices.Concat(parents[v], children[v])
		for _, c := range children[v] {
			for _, p := range parents[c] {
				if p != v {
					nb = append(nb, p)
				}
			}
		}
		slices.Sort(nb)
		moral[v] = slices.Compact(nb)
	}
	return moral
}

// H returns the number of hidden nodes.
func (g *Graph) H() int { return len(g.widths) - 2 }

// Output returns the output node, H+1.
func (g *Graph) Output() int { return len(g.widths) - 1 }

// Shape returns the graph's shape.
func (g *Graph) Shape() Shape { return g.shape }

// Widths returns the node widths, 0..H+1.
func (g *Graph) Widths() []int { return slices.Clone(g.widths) }

// Skips returns the long skips, sorted by source then target.
func (g *Graph) Skips() []Skip { return slices.Clone(g.skips) }

// Parents returns the nodes whose values mu_v reads, ascending: v-1 and the sources of
// the skips into v.
func (g *Graph) Parents(v int) []int { return slices.Clone(g.parents[g.node(v)]) }

// Children returns the nodes whose predictions read x_v, ascending: v+1 and the targets
// of the skips from v.
func (g *Graph) Children(v int) []int { return slices.Clone(g.children[g.node(v)]) }

// Neighbours returns v's neighbours in the moralised graph, ascending: its parents, its
// children, and the other parents of its children, whose errors e_c it shares.
func (g *Graph) Neighbours(v int) []int { return slices.Clone(g.moral[g.node(v)]) }

// String writes the graph as "chain H=9 skips 1:5,3:8" ("skips -" when there are none).
func (g *Graph) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v H=%d skips ", g.shape, g.H())
	if len(g.skips) == 0 {
		b.WriteString("-")
	} else {
		b.WriteString(FormatSkips(g.skips))
	}
	return b.String()
}

// node returns v if it is a node of g and panics otherwise, as indexing a slice would:
// a node index comes from code that built g, never from a user.
func (g *Graph) node(v int) int {
	if v < 0 || v > g.Output() {
		panic(fmt.Sprintf("graph: node %d out of range 0..%d", v, g.Output()))
	}
	return v
}
