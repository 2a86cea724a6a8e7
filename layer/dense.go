package layer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
)

// Dense is one weight layer f(v) = g(v Wᵀ + b) with W of shape Out x In and b of length
// Out, laid out as PyTorch's nn.Linear, in precision T (docs/design.md §1).
type Dense[T tensor.Float] struct {
	Act Activation
	W   *tensor.Matrix[T] // Out x In
	B   []T               // Out
}

// NewDense returns a layer from in to out units with zero weights.
func NewDense[T tensor.Float](in, out int, act Activation) (*Dense[T], error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("layer: dense layer needs at least one input and one output unit, got %d -> %d", in, out)
	}
	if act < Identity || act > Sigmoid {
		return nil, fmt.Errorf("layer: unknown activation %d", int(act))
	}
	return &Dense[T]{Act: act, W: tensor.New[T](out, in, nil), B: make([]T, out)}, nil
}

// In is the width of the layer's input.
func (d *Dense[T]) In() int { return d.W.Cols }

// Out is the width of the layer's output.
func (d *Dense[T]) Out() int { return d.W.Rows }

// InitPyTorch draws W and b from U(-1/sqrt(In), 1/sqrt(In)), the bounds of PyTorch's
// default nn.Linear initialisation, W first (row-major) then b. Every value is drawn in
// float64 and then rounded to T, so float32 and float64 layers initialised from the same
// rng start from the same draws.
func (d *Dense[T]) InitPyTorch(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(d.In()))
	for _, s := range d.Params() {
		for i := range s {
			s[i] = T((2*rng.Float64() - 1) * bound)
		}
	}
}

// Params returns the layer's parameters as flat slices that alias W and b, in the order
// weight, bias (the order of a PyTorch state dict).
func (d *Dense[T]) Params() [2][]T {
	return [2][]T{d.W.Data, d.B}
}

// CopyFrom sets d's parameters to src's; the shapes must agree.
func (d *Dense[T]) CopyFrom(src *Dense[T]) {
	mustShape("Dense.CopyFrom", "weight", src.W, d.Out(), d.In())
	d.Act = src.Act
	d.W.Copy(src.W)
	copy(d.B, src.B)
}

// Clone returns a deep copy of d.
func (d *Dense[T]) Clone() *Dense[T] {
	c := &Dense[T]{Act: d.Act, W: tensor.New[T](d.Out(), d.In(), nil), B: make([]T, d.Out())}
	c.CopyFrom(d)
	return c
}

// Forward writes out = g(v Wᵀ + b) and, when deriv is not nil, deriv = g'(v Wᵀ + b).
// v is B x In; out and deriv are B x Out. out must not share memory with v.
func (d *Dense[T]) Forward(out, deriv, v *tensor.Matrix[T]) {
	d.forward(nil, out, deriv, v)
}

// ForwardFused is Forward with the activation applied to each block of out as soon as the
// product has finished it, on the core that computed the block, while it is in cache:
// with every core on the product, the activation is shared out among them rather than run
// on one after the product (issue 18: the speed-up of a backprop step from 1 to 2 cores).
// The activation is elementwise, so the result is Forward's bit for bit. f is the
// caller's scratch (see Fusion).
func (d *Dense[T]) ForwardFused(f *Fusion[T], out, deriv, v *tensor.Matrix[T]) {
	d.forward(f, out, deriv, v)
}

func (d *Dense[T]) forward(f *Fusion[T], out, deriv, v *tensor.Matrix[T]) {
	batch := v.Rows
	mustShape("Dense.Forward", "input", v, batch, d.In())
	mustShape("Dense.Forward", "output", out, batch, d.Out())
	if deriv != nil {
		mustShape("Dense.Forward", "derivative", deriv, batch, d.Out())
	}
	for i := 0; i < out.Rows; i++ {
		copy(out.Row(i), d.B)
	}
	if f != nil {
		f.act = activateBlocks[T]{g: d.Act, out: out, deriv: deriv}
		gemms(product[T]{tB: true, alpha: 1, a: v, b: d.W, beta: 1, c: out, then: &f.act})
		f.act = activateBlocks[T]{} // drop the caller's matrices
		return
	}
	gemm(false, true, 1, v, d.W, 1, out)
	// The activation is elementwise: over contiguous matrices it runs in one call, which
	// spares narrow layers a kernel call per row.
	if n := out.Rows * out.Cols; out.Stride == out.Cols && (deriv == nil || deriv.Stride == deriv.Cols) {
		var dd []T
		if deriv != nil {
			dd = deriv.Data[:n]
		}
		applyActivation(d.Act, out.Data[:n], dd)
		return
	}
	for i := 0; i < out.Rows; i++ {
		var dd []T
		if deriv != nil {
			dd = deriv.Row(i)
		}
		applyActivation(d.Act, out.Row(i), dd)
	}
}

// Fusion is the scratch of a Dense's fused calls (ForwardFused, VJPs): what finishes a
// product's result block by block (internal/gemm's Product.Then). A caller keeps one for
// each call it may have in flight at once and reuses it, so that the calls allocate
// nothing; its zero value is ready. It holds nothing between calls.
type Fusion[T tensor.Float] struct {
	act  activateBlocks[T]
	gate gateBlocks[T]
}

// activateBlocks applies activation g to blocks of out, writing g' to deriv when it is
// not nil.
type activateBlocks[T tensor.Float] struct {
	g          Activation
	out, deriv *tensor.Matrix[T]
}

func (a *activateBlocks[T]) Finish(i0, j0, m, n int) {
	for i := i0; i < i0+m; i++ {
		var dd []T
		if a.deriv != nil {
			dd = a.deriv.Row(i)[j0 : j0+n]
		}
		applyActivation(a.g, a.out.Row(i)[j0:j0+n], dd)
	}
}

// gateBlocks writes delta = deriv ⊙ c on blocks of c.
type gateBlocks[T tensor.Float] struct {
	delta, deriv, c *tensor.Matrix[T]
}

func (g *gateBlocks[T]) Finish(i0, j0, m, n int) {
	for i := i0; i < i0+m; i++ {
		mul(g.delta.Row(i)[j0:j0+n], g.deriv.Row(i)[j0:j0+n], g.c.Row(i)[j0:j0+n])
	}
}

// Gate writes the gated cotangent delta = deriv ⊙ c, where deriv holds g'(a) from Forward.
// delta may be c itself.
func Gate[T tensor.Float](delta, deriv, c *tensor.Matrix[T]) {
	r, k := c.Dims()
	mustShape("Gate", "derivative", deriv, r, k)
	mustShape("Gate", "destination", delta, r, k)
	for i := 0; i < r; i++ {
		mul(delta.Row(i), deriv.Row(i), c.Row(i))
	}
}

// mul writes dst = a ⊙ b with vmath's vector loop, one rounding per product as the plain
// loop; dst may be a or b.
func mul[T tensor.Float](dst, a, b []T) {
	if is32[T]() {
		vmath.Mul32(as32(dst), as32(a), as32(b))
	} else {
		vmath.Mul(as64(dst), as64(a), as64(b))
	}
}

// addTo adds src to dst with vmath's vector loop, the same sums as the plain loop.
func addTo[T tensor.Float](dst, src []T) {
	if is32[T]() {
		vmath.AddTo32(as32(dst), as32(src))
	} else {
		vmath.AddTo(as64(dst), as64(src))
	}
}

// InputVJP writes dst = delta W, the input VJP J(v)ᵀ c for the gated cotangent
// delta = g'(a(v)) ⊙ c. delta is B x Out, dst is B x In.
func (d *Dense[T]) InputVJP(dst, delta *tensor.Matrix[T]) {
	batch := delta.Rows
	mustShape("Dense.InputVJP", "gated cotangent", delta, batch, d.Out())
	mustShape("Dense.InputVJP", "destination", dst, batch, d.In())
	gemm(false, false, 1, delta, d.W, 0, dst)
}

// WeightVJP writes the weight and bias VJPs dW = deltaᵀ v and db = colsum(delta) at input
// v for the gated cotangent delta. dW is Out x In and db has length Out.
func (d *Dense[T]) WeightVJP(dW *tensor.Matrix[T], db []T, v, delta *tensor.Matrix[T]) {
	batch := v.Rows
	mustShape("Dense.WeightVJP", "input", v, batch, d.In())
	mustShape("Dense.WeightVJP", "gated cotangent", delta, batch, d.Out())
	mustShape("Dense.WeightVJP", "weight gradient", dW, d.Out(), d.In())
	mustLen("Dense.WeightVJP", "bias gradient", len(db), d.Out())
	gemm(true, false, 1, delta, v, 0, dW)
	clear(db)
	for i := 0; i < delta.Rows; i++ {
		addTo(db, delta.Row(i)) // row after row: the order of the sums is fixed
	}
}

// VJPs computes InputVJP into dst, unless dst is nil (the first layer, whose input needs
// none), and WeightVJP into dW and db, at input v for the gated cotangent delta, the two
// products as one batch whose tiles share the cores at once: the batch waits for a woken
// core and for its last tile once rather than twice. When gated is not nil it also writes
// gated = deriv ⊙ dst, the gated cotangent of the layer below (Gate), block by block as
// the product finishes dst's; gated must not share memory with v, delta or dW, which the
// weight VJP reads and writes meanwhile. The results are those of InputVJP, WeightVJP and
// Gate bit for bit. f is the caller's scratch (see Fusion), unused, and may be nil, when
// gated is nil.
func (d *Dense[T]) VJPs(f *Fusion[T], dst, dW *tensor.Matrix[T], db []T, v, delta, gated, deriv *tensor.Matrix[T]) {
	batch := v.Rows
	mustShape("Dense.VJPs", "input", v, batch, d.In())
	mustShape("Dense.VJPs", "gated cotangent", delta, batch, d.Out())
	mustShape("Dense.VJPs", "weight gradient", dW, d.Out(), d.In())
	mustLen("Dense.VJPs", "bias gradient", len(db), d.Out())
	weight := product[T]{tA: true, alpha: 1, a: delta, b: v, c: dW}
	if dst == nil {
		gemms(weight)
	} else {
		mustShape("Dense.VJPs", "destination", dst, batch, d.In())
		input := product[T]{alpha: 1, a: delta, b: d.W, c: dst}
		if gated != nil {
			mustShape("Dense.VJPs", "gated destination", gated, batch, d.In())
			mustShape("Dense.VJPs", "derivative below", deriv, batch, d.In())
			f.gate = gateBlocks[T]{delta: gated, deriv: deriv, c: dst}
			input.then = &f.gate
			defer func() { f.gate = gateBlocks[T]{} }() // drop the caller's matrices
		}
		gemms(input, weight)
	}
	clear(db)
	for i := 0; i < delta.Rows; i++ {
		addTo(db, delta.Row(i)) // row after row: the order of the sums is fixed
	}
}
