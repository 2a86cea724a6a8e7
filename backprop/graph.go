package backprop

import (
	"errors"
	"fmt"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// GraphNet is a network on a layer graph (docs/design.md §11) trained by backpropagation,
// in precision T. Map l sends node l to its term of node l+1's value, and every long skip
// i -> j of the graph adds node i's value to node j's:
//
//	mu_0 = x,   mu_{l+1} = f_l(mu_l) + Σ_{skips i -> l+1} mu_i   (sources ascending)
//
// The sum is taken in that order, the map's term first, so that an engine computing its
// predictions in the same order gets the same values bit for bit. On a chain of Dense
// maps GraphNet computes what Net computes, bit for bit; Net stays the chain's own type.
type GraphNet[T tensor.Float] struct {
	Graph *graph.Graph
	Maps  []layer.Map[T] // Maps[l]: node l -> node l+1, l = 0..H
	Loss  layer.Loss

	into [][]int // into[j]: the sources i of the skips i -> j, ascending
	from [][]int // from[i]: the targets j of the skips i -> j, ascending
	work map[int]*graphWork[T]
}

// graphWork holds the values, Points and cotangents of one batch size.
type graphWork[T tensor.Float] struct {
	mu  []*tensor.Matrix[T] // mu[v], v = 1..H+1 (mu[0] unused: the input)
	at  []*layer.Point[T]   // at[l]: map l's record of mu_l
	cot []*tensor.Matrix[T] // cot[v] = dE/dmu_v, v = 1..H+1
}

// ErrGraphNet is what NewGraph's errors wrap.
var ErrGraphNet = errors.New("backprop: bad graph network")

// NewGraph wraps the maps of a graph network (map l from node l to node l+1, l = 0..H)
// into a GraphNet with loss. The maps are used, not copied. It returns one error for the
// first fault: a nil graph or loss, a wrong number of maps, a map whose widths are not
// its nodes', or a map whose identity skip disagrees with the graph's shape (a residual
// graph's maps 1..H-1 are PreAct maps with Skip set; no other map has a skip).
func NewGraph[T tensor.Float](g *graph.Graph, maps []layer.Map[T], loss layer.Loss) (*GraphNet[T], error) {
	if g == nil || loss == nil {
		return nil, fmt.Errorf("%w: a network needs a graph and a loss", ErrGraphNet)
	}
	h, widths := g.H(), g.Widths()
	if len(maps) != h+1 {
		return nil, fmt.Errorf("%w: %d maps for %v, want %d (one per node 0..H)", ErrGraphNet, len(maps), g, h+1)
	}
	for l, m := range maps {
		if m == nil {
			return nil, fmt.Errorf("%w: map %d is nil", ErrGraphNet, l)
		}
		if m.In() != widths[l] || m.Out() != widths[l+1] {
			return nil, fmt.Errorf("%w: map %d is %d -> %d, but nodes %d and %d have widths %d and %d",
				ErrGraphNet, l, m.In(), m.Out(), l, l+1, widths[l], widths[l+1])
		}
		want := g.Shape() == graph.Residual && l > 0 && l < h
		if got := identitySkip(m); got != want {
			return nil, fmt.Errorf("%w: map %d has identity skip %v, but a %v graph's map %d has %v",
				ErrGraphNet, l, got, g.Shape(), l, want)
		}
	}
	n := &GraphNet[T]{Graph: g, Maps: maps, Loss: loss, into: make([][]int, h+2), from: make([][]int, h+2),
		work: map[int]*graphWork[T]{}}
	for _, s := range g.Skips() {
		n.into[s.To] = append(n.into[s.To], s.From)
		n.from[s.From] = append(n.from[s.From], s.To)
	}
	return n, nil
}

// identitySkip reports whether m adds its input to its output.
func identitySkip[T tensor.Float](m layer.Map[T]) bool {
	p, ok := m.(*layer.PreAct[T])
	return ok && p.Skip
}

// NewGrads returns a zero Grad for every map, in order.
func (n *GraphNet[T]) NewGrads() []*layer.Grad[T] {
	grads := make([]*layer.Grad[T], len(n.Maps))
	for l, m := range n.Maps {
		grads[l] = layer.GradFor(m)
	}
	return grads
}

func (n *GraphNet[T]) workspace(batch int) *graphWork[T] {
	if w, ok := n.work[batch]; ok {
		return w
	}
	L := len(n.Maps)
	w := &graphWork[T]{mu: make([]*tensor.Matrix[T], L+1), at: make([]*layer.Point[T], L), cot: make([]*tensor.Matrix[T], L+1)}
	for l, m := range n.Maps {
		w.mu[l+1] = tensor.New[T](batch, m.Out(), nil)
		w.cot[l+1] = tensor.New[T](batch, m.Out(), nil)
		w.at[l] = m.NewPoint(batch)
	}
	n.work[batch] = w
	return w
}

func (n *GraphNet[T]) checkInput(x *tensor.Matrix[T], labels []int) {
	r, c := x.Dims()
	if in := n.Maps[0].In(); c != in {
		panic(&layer.ShapeError{Op: "backprop.GraphNet", What: "input", Got: [2]int{r, c}, Want: [2]int{r, in}})
	}
	if labels != nil && len(labels) != r {
		panic(&layer.ShapeError{Op: "backprop.GraphNet", What: "labels", Got: [2]int{len(labels), 1}, Want: [2]int{r, 1}})
	}
}

// Forward runs the network on x (B x In) and returns the output node's value. The result
// is owned by the GraphNet and valid until its next call.
func (n *GraphNet[T]) Forward(x *tensor.Matrix[T]) *tensor.Matrix[T] {
	n.checkInput(x, nil)
	w := n.workspace(x.Rows)
	n.forward(w, x)
	return w.mu[len(n.Maps)]
}

// node returns node v's value: the input for v = 0.
func (w *graphWork[T]) node(v int, x *tensor.Matrix[T]) *tensor.Matrix[T] {
	if v == 0 {
		return x
	}
	return w.mu[v]
}

func (n *GraphNet[T]) forward(w *graphWork[T], x *tensor.Matrix[T]) {
	for l, m := range n.Maps {
		out := w.mu[l+1]
		m.ForwardAt(out, w.at[l], w.node(l, x))
		for _, i := range n.into[l+1] {
			addInto(out, w.node(i, x))
		}
	}
}

// addInto adds src to dst, element by element.
func addInto[T tensor.Float](dst, src *tensor.Matrix[T]) {
	for i := 0; i < dst.Rows; i++ {
		d, s := dst.Row(i), src.Row(i)
		for j := range d {
			d[j] += s[j]
		}
	}
}

// Gradients runs one forward and one backward wave and writes dE/dθ_l of every map into
// grads[l] (NewGrads shapes them). It returns the loss E at the current weights. The
// backward wave is
//
//	g_{H+1} = dE/dz,   g_v = J_v(mu_v)ᵀ g_{v+1} + Σ_{skips v -> j} g_j   (targets ascending)
//
// and map l's gradient its weight VJP at mu_l with g_{l+1}. Under a per-sample loss the
// cotangents carry no 1/B, and the gradients take it at the end (layer.UpdateScale, §11),
// as a PC network's weight updates will.
func (n *GraphNet[T]) Gradients(grads []*layer.Grad[T], x *tensor.Matrix[T], labels []int) float64 {
	n.checkInput(x, labels)
	if len(grads) != len(n.Maps) {
		panic(fmt.Sprintf("backprop: %d gradients for %d maps", len(grads), len(n.Maps)))
	}
	w := n.workspace(x.Rows)
	n.forward(w, x)
	L := len(n.Maps)
	loss := layer.LossValue(n.Loss, w.mu[L], labels)
	// The loss gives -dE/dz (the PC output error); BP keeps the gradient's own sign.
	layer.NegGrad(n.Loss, w.cot[L], w.mu[L], labels)
	for i, v := range w.cot[L].Data {
		w.cot[L].Data[i] = -v
	}
	// Every child of node v is above v, so g_{v+1} and the g_j of v's skips are complete
	// when the wave reaches v.
	for l := L - 1; l >= 0; l-- {
		m := n.Maps[l]
		m.WeightVJPAt(grads[l], w.at[l], w.node(l, x), w.cot[l+1])
		if l == 0 {
			continue
		}
		m.InputVJPAt(w.cot[l], w.at[l], w.cot[l+1])
		for _, j := range n.from[l] {
			addInto(w.cot[l], w.cot[j])
		}
	}
	if s := layer.UpdateScale(n.Loss, x.Rows); s != 1 {
		for _, g := range grads {
			g.Scale(s)
		}
	}
	return loss
}

// Evaluate returns the mean loss and the number of correct predictions of the network on
// x, computed in chunks of at most chunk rows.
func (n *GraphNet[T]) Evaluate(x *tensor.Matrix[T], labels []int, chunk int) (loss float64, correct int) {
	n.checkInput(x, labels)
	return evaluate(n.Forward, n.Loss, x, labels, chunk)
}
