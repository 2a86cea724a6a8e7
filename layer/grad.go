package layer

import "github.com/pcnet/pcnet/tensor"

// Grad holds one value per parameter of a Dense layer or another Map (GradFor): a
// gradient, or a predictive-coding weight update. B is empty for a map without a bias.
type Grad[T tensor.Float] struct {
	W *tensor.Matrix[T] // Out x In
	B []T               // Out
}

// NewGrad returns a zero Grad shaped like d.
func NewGrad[T tensor.Float](d *Dense[T]) *Grad[T] {
	return &Grad[T]{W: tensor.New[T](d.Out(), d.In(), nil), B: make([]T, d.Out())}
}

// Params returns the values as flat slices aliasing W and B, weight first.
func (g *Grad[T]) Params() [2][]T {
	return [2][]T{g.W.Data, g.B}
}

// Zero sets every value to zero.
func (g *Grad[T]) Zero() {
	for _, s := range g.Params() {
		clear(s)
	}
}

// Scale multiplies every value by s, rounded once to T (as PyTorch multiplies a float32
// tensor by a Python float).
func (g *Grad[T]) Scale(s float64) {
	st := T(s)
	for _, p := range g.Params() {
		for i := range p {
			p[i] *= st
		}
	}
}

// CopyFrom copies src's values into g; the shapes must agree.
func (g *Grad[T]) CopyFrom(src *Grad[T]) {
	r, c := g.W.Dims()
	mustShape("Grad.CopyFrom", "weight", src.W, r, c)
	mustLen("Grad.CopyFrom", "bias", len(src.B), len(g.B))
	g.W.Copy(src.W)
	copy(g.B, src.B)
}

// Add adds src's values to g; the shapes must agree.
func (g *Grad[T]) Add(src *Grad[T]) {
	r, c := g.W.Dims()
	mustShape("Grad.Add", "weight", src.W, r, c)
	mustLen("Grad.Add", "bias", len(src.B), len(g.B))
	dst, s := g.Params(), src.Params()
	for i := range dst {
		for j, v := range s[i] {
			dst[i][j] += v
		}
	}
}
