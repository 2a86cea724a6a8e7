package layer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/pcnet/pcnet/tensor"
)

// PreAct is a weight map with the activation on its input side, a fixed multiplier and no
// bias (docs/design.md §11):
//
//	f(v) = a · phi(v) Wᵀ          or, with Skip,   f(v) = v + a · phi(v) Wᵀ
//
// with W of shape Out x In laid out as nn.Linear's weight. It covers the three kinds of
// layer of μPC's residual network: the first (phi the identity, no skip), the hidden ones
// (skip) and the readout (no skip). The multiplier a is not a parameter: the optimiser
// sees W alone. Its VJPs at v with cotangent c are
//
//	input VJP   J(v)ᵀ c = (a c) W ⊙ phi'(v)  [+ c]     (B x In)
//	weight VJP  dW      = (a c)ᵀ phi(v)                (Out x In)
//
// in the order PyTorch's autograd takes them (c is scaled before the product).
type PreAct[T tensor.Float] struct {
	Act   Activation        // phi, applied to the input
	Scale float64           // the multiplier a, rounded to T where it is applied
	Skip  bool              // add the input itself (In == Out)
	W     *tensor.Matrix[T] // Out x In
}

// NewPreAct returns a map from in to out units with zero weights. It refuses widths below
// one, an unknown activation, a multiplier that is not finite and positive, and a skip
// between different widths.
func NewPreAct[T tensor.Float](in, out int, act Activation, scale float64, skip bool) (*PreAct[T], error) {
	switch {
	case in < 1 || out < 1:
		return nil, fmt.Errorf("layer: pre-activation map needs at least one input and one output unit, got %d -> %d", in, out)
	case act < Identity || act > Sigmoid:
		return nil, fmt.Errorf("layer: unknown activation %d", int(act))
	case !(scale > 0) || math.IsInf(scale, 0):
		return nil, fmt.Errorf("layer: pre-activation multiplier %v, want a finite value > 0", scale)
	case skip && in != out:
		return nil, fmt.Errorf("layer: identity skip from %d to %d units, want equal widths", in, out)
	}
	return &PreAct[T]{Act: act, Scale: scale, Skip: skip, W: tensor.New[T](out, in, nil)}, nil
}

// In is the width of the map's input.
func (p *PreAct[T]) In() int { return p.W.Cols }

// Out is the width of the map's output.
func (p *PreAct[T]) Out() int { return p.W.Rows }

// Params returns W's values (aliasing it) and no bias.
func (p *PreAct[T]) Params() [2][]T { return [2][]T{p.W.Data, nil} }

// InitMuPC draws every weight from N(0, 1), μPC's initialisation (the multiplier carries
// the scale), row-major. Each value is drawn in float64 and rounded to T, so float32 and
// float64 maps initialised from the same rng start from the same draws, as with
// Dense.InitPyTorch.
func (p *PreAct[T]) InitMuPC(rng *rand.Rand) {
	for i := range p.W.Data {
		p.W.Data[i] = T(rng.NormFloat64())
	}
}

// InitPyTorch draws W from U(-1/sqrt(In), 1/sqrt(In)), the bounds of PyTorch's
// nn.Linear, as Dense.InitPyTorch draws its weight (the standard parameterisation).
func (p *PreAct[T]) InitPyTorch(rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(p.In()))
	for i := range p.W.Data {
		p.W.Data[i] = T((2*rng.Float64() - 1) * bound)
	}
}

// Clone returns a deep copy of p.
func (p *PreAct[T]) Clone() *PreAct[T] {
	c := *p
	c.W = p.W.Clone()
	return &c
}

// NewPoint returns a Point for batches of batch rows.
func (p *PreAct[T]) NewPoint(batch int) *Point[T] {
	at := &Point[T]{Deriv: tensor.New[T](batch, p.In(), nil), scratch: tensor.New[T](batch, p.Out(), nil)}
	if p.Act != Identity {
		at.Phi = tensor.New[T](batch, p.In(), nil)
	}
	return at
}

// ForwardAt writes out = [v +] a · phi(v) Wᵀ and keeps phi(v) and phi'(v) in at.
func (p *PreAct[T]) ForwardAt(out *tensor.Matrix[T], at *Point[T], v *tensor.Matrix[T]) {
	batch := v.Rows
	mustShape("PreAct.ForwardAt", "input", v, batch, p.In())
	mustShape("PreAct.ForwardAt", "output", out, batch, p.Out())
	mustPoint("PreAct.ForwardAt", at, batch, p.Out())
	mustShape("PreAct.ForwardAt", "derivative", at.Deriv, batch, p.In())
	src := v
	if p.Act != Identity {
		if at.Phi == nil {
			panic("layer: PreAct.ForwardAt: the point was made for the identity; make it after setting Act")
		}
		mustShape("PreAct.ForwardAt", "activation", at.Phi, batch, p.In())
		at.Phi.Copy(v)
		src = at.Phi
	}
	for i := 0; i < batch; i++ {
		if p.Act != Identity {
			applyActivation(p.Act, at.Phi.Row(i), at.Deriv.Row(i))
		} else {
			applyActivation(Identity, nil, at.Deriv.Row(i))
		}
	}
	gemm(false, true, 1, src, p.W, 0, out)
	if p.Scale == 1 && !p.Skip {
		return
	}
	a := T(p.Scale)
	for i := 0; i < batch; i++ {
		o := out.Row(i)
		if !p.Skip {
			for j := range o {
				o[j] *= a
			}
			continue
		}
		x := v.Row(i)
		for j := range o {
			o[j] = x[j] + T(a*o[j]) // the conversion keeps a*o from fusing into the add
		}
	}
}

// scaled returns c scaled by the multiplier in at's scratch, or c itself when a is 1.
func (p *PreAct[T]) scaled(op string, at *Point[T], c *tensor.Matrix[T]) *tensor.Matrix[T] {
	mustPoint(op, at, c.Rows, p.Out())
	mustShape(op, "cotangent", c, at.Rows(), p.Out())
	if p.Scale == 1 {
		return c
	}
	ScaleInto(at.scratch, c, p.Scale)
	return at.scratch
}

// InputVJPAt writes dst = (a c) W ⊙ phi'(v) [+ c].
func (p *PreAct[T]) InputVJPAt(dst *tensor.Matrix[T], at *Point[T], c *tensor.Matrix[T]) {
	const op = "PreAct.InputVJPAt"
	ac := p.scaled(op, at, c)
	mustShape(op, "destination", dst, c.Rows, p.In())
	gemm(false, false, 1, ac, p.W, 0, dst)
	for i := 0; i < dst.Rows; i++ {
		d, g := dst.Row(i), at.Deriv.Row(i)
		if !p.Skip {
			for j := range d {
				d[j] *= g[j]
			}
			continue
		}
		cc := c.Row(i)
		for j := range d {
			d[j] = T(d[j]*g[j]) + cc[j]
		}
	}
}

// WeightVJPAt writes dW = (a c)ᵀ phi(v); g.B must be empty.
func (p *PreAct[T]) WeightVJPAt(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T]) {
	const op = "PreAct.WeightVJPAt"
	p.weightVJP(op, g, at, v, p.scaled(op, at, c))
}

// WeightVJPAfterInput is WeightVJPAt with the a c that the last InputVJPAt at at left in
// it (see Map).
func (p *PreAct[T]) WeightVJPAfterInput(g *Grad[T], at *Point[T], v, c *tensor.Matrix[T]) {
	const op = "PreAct.WeightVJPAfterInput"
	mustPoint(op, at, c.Rows, p.Out())
	mustShape(op, "cotangent", c, at.Rows(), p.Out())
	ac := c // scaled's result: c itself for a = 1, else the scratch it wrote
	if p.Scale != 1 {
		ac = at.scratch
	}
	p.weightVJP(op, g, at, v, ac)
}

// weightVJP writes dW = acᵀ phi(v) for the scaled cotangent ac.
func (p *PreAct[T]) weightVJP(op string, g *Grad[T], at *Point[T], v, ac *tensor.Matrix[T]) {
	mustShape(op, "input", v, ac.Rows, p.In())
	mustShape(op, "weight gradient", g.W, p.Out(), p.In())
	mustLen(op, "bias gradient", len(g.B), 0)
	src := v
	if p.Act != Identity {
		src = at.Phi
	}
	gemm(true, false, 1, ac, src, 0, g.W)
}

// Param is a parameterisation of §11's network: its multipliers and initialisation.
type Param int

const (
	// Standard: every multiplier 1 and PyTorch's nn.Linear initialisation.
	Standard Param = iota
	// MuPC: a_0 = 1/sqrt(D), a_h = 1/sqrt(N L), a_L = 1/N and W ~ N(0, 1).
	MuPC
)

var paramNames = [...]string{Standard: "standard", MuPC: "mupc"}

func (p Param) String() string {
	if p < 0 || int(p) >= len(paramNames) {
		return fmt.Sprintf("Param(%d)", int(p))
	}
	return paramNames[p]
}

// ParseParam maps "standard" or "mupc" to its Param.
func ParseParam(s string) (Param, error) {
	for i, n := range paramNames {
		if strings.EqualFold(s, n) {
			return Param(i), nil
		}
	}
	return 0, fmt.Errorf("unknown parameterisation %q (want standard or mupc)", s)
}

// Multiplier returns the multiplier of weight layer l (0..L-1) of a network of L weight
// layers whose input width is in: under MuPC, a_0 = 1/sqrt(in) for the first layer,
// 1/in for the readout and 1/sqrt(in L) between them (§11's a_0, a_L, a_h, with D and N
// the widths the layer reads); 1 under Standard.
func (p Param) Multiplier(l, layers, in int) float64 {
	if p != MuPC {
		return 1
	}
	switch l {
	case 0:
		return 1 / math.Sqrt(float64(in))
	case layers - 1:
		return 1 / float64(in)
	}
	return 1 / math.Sqrt(float64(in*layers))
}

// NewPreActNet builds the L = H+1 maps of §11's network on node widths [D, n_1..n_H, K]
// (H >= 1) and initialises them in order from rng (N(0, 1) under MuPC, PyTorch's under
// Standard): map 0 is a_0 x Wᵀ with no activation; maps 1..H-1 apply phi and, when
// residual is set, the identity skip (the hidden widths must then be equal); map H is
// the readout a_L phi(x) Wᵀ.
func NewPreActNet[T tensor.Float](widths []int, phi Activation, param Param, residual bool, rng *rand.Rand) ([]*PreAct[T], error) {
	maps, err := PreActNet[T](widths, phi, param, residual)
	if err != nil {
		return nil, err
	}
	for _, m := range maps {
		if param == MuPC {
			m.InitMuPC(rng)
		} else {
			m.InitPyTorch(rng)
		}
	}
	return maps, nil
}

// PreActNet is NewPreActNet with zero weights: the network's shape, multipliers and
// activations, for a caller that sets the weights itself (a checkpoint's reader).
func PreActNet[T tensor.Float](widths []int, phi Activation, param Param, residual bool) ([]*PreAct[T], error) {
	if len(widths) < 3 {
		return nil, fmt.Errorf("layer: a pre-activation network needs an input, H >= 1 hidden and an output width, got %v", widths)
	}
	if param != Standard && param != MuPC {
		return nil, fmt.Errorf("layer: unknown parameterisation %d", int(param))
	}
	L := len(widths) - 1
	maps := make([]*PreAct[T], L)
	for l := range maps {
		act, skip := phi, residual && l > 0 && l < L-1
		if l == 0 {
			act = Identity
		}
		m, err := NewPreAct[T](widths[l], widths[l+1], act, param.Multiplier(l, L, widths[l]), skip)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		maps[l] = m
	}
	return maps, nil
}
