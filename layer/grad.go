package layer

import "gonum.org/v1/gonum/mat"

// Grad holds one value per parameter of a Dense layer: a gradient, or a predictive-coding
// weight update.
type Grad struct {
	W *mat.Dense    // Out x In
	B *mat.VecDense // Out
}

// NewGrad returns a zero Grad shaped like d.
func NewGrad(d *Dense) *Grad {
	return &Grad{W: mat.NewDense(d.Out(), d.In(), nil), B: mat.NewVecDense(d.Out(), nil)}
}

// Params returns the values as flat slices aliasing W and B, weight first.
func (g *Grad) Params() [2][]float64 {
	return [2][]float64{g.W.RawMatrix().Data, g.B.RawVector().Data}
}

// Zero sets every value to zero.
func (g *Grad) Zero() {
	for _, s := range g.Params() {
		clear(s)
	}
}

// Scale multiplies every value by s.
func (g *Grad) Scale(s float64) {
	for _, p := range g.Params() {
		for i := range p {
			p[i] *= s
		}
	}
}

// CopyFrom copies src's values into g; the shapes must agree.
func (g *Grad) CopyFrom(src *Grad) {
	r, c := g.W.Dims()
	mustShape("Grad.CopyFrom", "weight", src.W, r, c)
	g.W.Copy(src.W)
	g.B.CopyVec(src.B)
}

// Add adds src's values to g; the shapes must agree.
func (g *Grad) Add(src *Grad) {
	r, c := g.W.Dims()
	mustShape("Grad.Add", "weight", src.W, r, c)
	mustShape("Grad.Add", "bias", src.B, r, 1)
	dst, s := g.Params(), src.Params()
	for i := range dst {
		for j, v := range s[i] {
			dst[i][j] += v
		}
	}
}
