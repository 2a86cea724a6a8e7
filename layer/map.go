package layer

import (
	"fmt"

	"github.com/pcnet/pcnet/tensor"
)

// Map is a weight map that a node of a layer graph owns (docs/design.md §11): it sends the
// node's value v (B x In) to its term of the next node's prediction (B x Out). Dense and
// PreAct satisfy it, so an engine can hold either behind one type.
//
// The three products take a Point, the record of the map's input that Forward keeps
// (the Jacobian at v), so that the VJPs at a fixed point are paid for once: the forward
// pass fills it, and every later InputVJPAt and WeightVJPAt at the same v reads it. The
// cotangent c of the VJPs is the plain cotangent of the map's output (B x Out), gated or
// not inside the map as its activation needs. A map keeps no state between calls: two
// batches in flight need two Points.
//
// Dense keeps its own Forward, InputVJP and WeightVJP, which take the gated cotangent;
// the methods of this interface have other names for that reason only.
type Map[T tensor.Float] interface {
	// In and Out are the widths of the map's input and output.
	In() int
	Out() int
	// Params returns the parameters as flat slices that alias the map's own, weight
	// first, bias second (nil for a map without one): the order of a PyTorch state dict.
	Params() [2][]T
	// NewPoint returns a Point for batches of the given number of rows.
	NewPoint(batch int) *Point[T]
	// ForwardAt writes out = f(v) (B x Out) and records in at what the VJPs at v need.
	// out must not share memory with v.
	ForwardAt(out *tensor.Matrix[T], at *Point[T], v *tensor.Matrix[T])
	// InputVJPAt writes dst = J(v)ᵀ c (B x In) at the v that at was recorded at.
	InputVJPAt(dst *tensor.Matrix[T], at *Point[T], c *tensor.Matrix[T])
	// WeightVJPAt writes into g the VJP of every parameter at input v (the v ForwardAt
	// recorded at) with cotangent c: dW (Out x In) and, where the map has a bias, db.
	WeightVJPAt(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T])
	// WeightVJPAfterInput is WeightVJPAt where the last VJP at at was an InputVJPAt with
	// the same cotangent c, and neither c nor at has changed since: it reads the gated
	// (Dense) or scaled (PreAct) cotangent that call left in at rather than form it again,
	// which spares a pass over c that backprop, forming it once for both VJPs, does not
	// make (issue 18). The caller vouches for the condition; the result is then
	// WeightVJPAt's bit for bit.
	WeightVJPAfterInput(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T])
}

// Point is what a Map keeps of its input v between ForwardAt and the VJPs. Its matrices
// are the map's business; they are exported so that a test or a metric can read them.
type Point[T tensor.Float] struct {
	// Deriv is the activation's derivative: g'(v Wᵀ + b) (B x Out) for Dense, phi'(v)
	// (B x In) for PreAct.
	Deriv *tensor.Matrix[T]
	// Phi is phi(v) (B x In) for a PreAct whose activation is not the identity; nil
	// otherwise (the weight VJP then reads v itself).
	Phi *tensor.Matrix[T]
	// scratch holds a gated (Dense) or scaled cotangent (B x Out).
	scratch *tensor.Matrix[T]
}

// Rows is the batch size the Point was made for.
func (p *Point[T]) Rows() int { return p.Deriv.Rows }

// GradFor returns a zero Grad shaped like m's parameters (with an empty bias when m has
// none).
func GradFor[T tensor.Float](m Map[T]) *Grad[T] {
	return &Grad[T]{W: tensor.New[T](m.Out(), m.In(), nil), B: make([]T, len(m.Params()[1]))}
}

// Dense as a Map: the products are Forward, InputVJP and WeightVJP with the gate applied
// in between, so a network of Dense maps computes what one of Dense layers does, bit for
// bit.

// NewPoint returns a Point for batches of batch rows.
func (d *Dense[T]) NewPoint(batch int) *Point[T] {
	return &Point[T]{Deriv: tensor.New[T](batch, d.Out(), nil), scratch: tensor.New[T](batch, d.Out(), nil)}
}

// ForwardAt is Forward with the derivative kept in at.
func (d *Dense[T]) ForwardAt(out *tensor.Matrix[T], at *Point[T], v *tensor.Matrix[T]) {
	d.Forward(out, at.Deriv, v)
}

// InputVJPAt writes dst = (g'(a) ⊙ c) W.
func (d *Dense[T]) InputVJPAt(dst *tensor.Matrix[T], at *Point[T], c *tensor.Matrix[T]) {
	mustPoint("Dense.InputVJPAt", at, c.Rows, d.Out())
	Gate(at.scratch, at.Deriv, c)
	d.InputVJP(dst, at.scratch)
}

// WeightVJPAt writes dW = δᵀ v and db = colsum(δ) for δ = g'(a) ⊙ c.
func (d *Dense[T]) WeightVJPAt(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T]) {
	mustPoint("Dense.WeightVJPAt", at, c.Rows, d.Out())
	Gate(at.scratch, at.Deriv, c)
	d.WeightVJP(g.W, g.B, v, at.scratch)
}

// WeightVJPAfterInput writes dW = δᵀ v and db = colsum(δ) for the δ = g'(a) ⊙ c that the
// last InputVJPAt at at left in it (see Map).
func (d *Dense[T]) WeightVJPAfterInput(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T]) {
	mustPoint("Dense.WeightVJPAfterInput", at, c.Rows, d.Out())
	d.WeightVJP(g.W, g.B, v, at.scratch)
}

// mustPoint panics with a *ShapeError unless at was made for batches of rows rows and
// its scratch is rows x cols.
func mustPoint[T tensor.Float](op string, at *Point[T], rows, cols int) {
	if at == nil || at.scratch == nil {
		panic(fmt.Sprintf("layer: %s: the point was not made by the map's NewPoint", op))
	}
	mustShape(op, "point", at.scratch, rows, cols)
}

var (
	_ Map[float64] = (*Dense[float64])(nil)
	_ Map[float32] = (*PreAct[float32])(nil)
)
