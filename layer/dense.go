package layer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// Dense is one weight layer f(v) = g(v Wᵀ + b) with W of shape Out x In and b of length
// Out, laid out as PyTorch's nn.Linear.
type Dense struct {
	Act Activation
	W   *mat.Dense    // Out x In
	B   *mat.VecDense // Out
}

// NewDense returns a layer from in to out units with zero weights.
func NewDense(in, out int, act Activation) (*Dense, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("layer: dense layer needs at least one input and one output unit, got %d -> %d", in, out)
	}
	if act < Identity || act > Sigmoid {
		return nil, fmt.Errorf("layer: unknown activation %d", int(act))
	}
	return &Dense{Act: act, W: mat.NewDense(out, in, nil), B: mat.NewVecDense(out, nil)}, nil
}

// In is the width of the layer's input.
func (d *Dense) In() int { _, c := d.W.Dims(); return c }

// Out is the width of the layer's output.
func (d *Dense) Out() int { r, _ := d.W.Dims(); return r }

// InitPyTorch draws W and b from U(-1/sqrt(In), 1/sqrt(In)), the bounds of PyTorch's
// default nn.Linear initialisation, W first (row-major) then b.
func (d *Dense) InitPyTorch(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(d.In()))
	for _, s := range d.Params() {
		for i := range s {
			s[i] = (2*rng.Float64() - 1) * bound
		}
	}
}

// Params returns the layer's parameters as flat slices that alias W and b, in the order
// weight, bias (the order of a PyTorch state dict).
func (d *Dense) Params() [2][]float64 {
	return [2][]float64{d.W.RawMatrix().Data, d.B.RawVector().Data}
}

// CopyFrom sets d's parameters to src's; the shapes must agree.
func (d *Dense) CopyFrom(src *Dense) {
	mustShape("Dense.CopyFrom", "weight", src.W, d.Out(), d.In())
	d.Act = src.Act
	d.W.Copy(src.W)
	d.B.CopyVec(src.B)
}

// Clone returns a deep copy of d.
func (d *Dense) Clone() *Dense {
	c := &Dense{Act: d.Act, W: mat.NewDense(d.Out(), d.In(), nil), B: mat.NewVecDense(d.Out(), nil)}
	c.CopyFrom(d)
	return c
}

// Forward writes out = g(v Wᵀ + b) and, when deriv is not nil, deriv = g'(v Wᵀ + b).
// v is B x In; out and deriv are B x Out. out must not share memory with v.
func (d *Dense) Forward(out, deriv, v *mat.Dense) {
	batch, _ := v.Dims()
	mustShape("Dense.Forward", "input", v, batch, d.In())
	mustShape("Dense.Forward", "output", out, batch, d.Out())
	o := raw(out)
	bias := d.B.RawVector().Data
	for i := 0; i < o.Rows; i++ {
		copy(o.Data[i*o.Stride:i*o.Stride+o.Cols], bias)
	}
	gemm(blas.NoTrans, blas.Trans, 1, raw(v), raw(d.W), 1, o)
	var dd []float64
	if deriv != nil {
		mustShape("Dense.Forward", "derivative", deriv, batch, d.Out())
		dr := raw(deriv)
		for i := 0; i < o.Rows; i++ {
			d.Act.apply(o.Data[i*o.Stride:i*o.Stride+o.Cols], dr.Data[i*dr.Stride:i*dr.Stride+dr.Cols])
		}
		return
	}
	for i := 0; i < o.Rows; i++ {
		d.Act.apply(o.Data[i*o.Stride:i*o.Stride+o.Cols], dd)
	}
}

// Gate writes the gated cotangent delta = deriv ⊙ c, where deriv holds g'(a) from Forward.
// delta may be c itself.
func Gate(delta, deriv, c *mat.Dense) {
	r, k := c.Dims()
	mustShape("Gate", "derivative", deriv, r, k)
	mustShape("Gate", "destination", delta, r, k)
	dr, cr, er := raw(deriv), raw(c), raw(delta)
	for i := 0; i < r; i++ {
		dd := dr.Data[i*dr.Stride : i*dr.Stride+k]
		cc := cr.Data[i*cr.Stride : i*cr.Stride+k]
		ee := er.Data[i*er.Stride : i*er.Stride+k]
		for j := range ee {
			ee[j] = dd[j] * cc[j]
		}
	}
}

// InputVJP writes dst = delta W, the input VJP J(v)ᵀ c for the gated cotangent
// delta = g'(a(v)) ⊙ c. delta is B x Out, dst is B x In.
func (d *Dense) InputVJP(dst, delta *mat.Dense) {
	batch, _ := delta.Dims()
	mustShape("Dense.InputVJP", "gated cotangent", delta, batch, d.Out())
	mustShape("Dense.InputVJP", "destination", dst, batch, d.In())
	gemm(blas.NoTrans, blas.NoTrans, 1, raw(delta), raw(d.W), 0, raw(dst))
}

// WeightVJP writes the weight and bias VJPs dW = deltaᵀ v and db = colsum(delta) at input
// v for the gated cotangent delta. dW is Out x In and db has length Out.
func (d *Dense) WeightVJP(dW *mat.Dense, db *mat.VecDense, v, delta *mat.Dense) {
	batch, _ := v.Dims()
	mustShape("Dense.WeightVJP", "input", v, batch, d.In())
	mustShape("Dense.WeightVJP", "gated cotangent", delta, batch, d.Out())
	mustShape("Dense.WeightVJP", "weight gradient", dW, d.Out(), d.In())
	mustShape("Dense.WeightVJP", "bias gradient", db, d.Out(), 1)
	gemm(blas.Trans, blas.NoTrans, 1, raw(delta), raw(v), 0, raw(dW))
	dr := raw(delta)
	bias := db.RawVector()
	for j := 0; j < d.Out(); j++ {
		bias.Data[j*bias.Inc] = 0
	}
	for i := 0; i < dr.Rows; i++ {
		row := dr.Data[i*dr.Stride : i*dr.Stride+dr.Cols]
		for j, x := range row {
			bias.Data[j*bias.Inc] += x
		}
	}
}
