package optim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
)

// PyTorch's names for the optimiser state buffers.
const (
	BufMomentum = "momentum_buffer" // SGD with momentum
	BufExpAvg   = "exp_avg"         // Adam's first moment estimate
	BufExpAvgSq = "exp_avg_sq"      // Adam's second moment estimate
)

// State is the optimiser state of one parameter tensor of element type T: its
// step count and the per-parameter buffers of its algorithm. Make it with
// [NewState] (or [Config.NewState] for float64). A State is not safe for
// concurrent use; it belongs to whoever owns the tensor.
type State[T tensor.Float] struct {
	cfg   Config
	n     int
	steps int
	// mom is SGD's momentum buffer, nil without momentum. Before the first
	// step it holds zeros that Step ignores: PyTorch creates the buffer
	// lazily as a copy of the first gradient, and so does Step.
	mom []T
	// expAvg and expAvgSq are Adam's moment estimates, nil for SGD.
	expAvg, expAvgSq []T
}

// NewState returns the state for one tensor of n parameters, with every
// buffer allocated up front so that [State.Step] never allocates.
//
// NewState panics if n is negative or c is invalid: validate configurations
// from users with [Config.Validate] first.
func (c Config) NewState(n int) *State[float64] { return NewState[float64](c, n) }

// NewState is [Config.NewState] for parameters of element type T.
func NewState[T tensor.Float](c Config, n int) *State[T] {
	if n < 0 {
		panic(fmt.Sprintf("optim: NewState: negative parameter count %d", n))
	}
	if err := c.Validate(); err != nil {
		panic(fmt.Sprintf("optim: NewState with invalid config: %v", err))
	}
	s := &State[T]{cfg: c, n: n}
	switch c.Kind {
	case SGD:
		if c.Momentum != 0 {
			s.mom = make([]T, n)
		}
	case Adam:
		s.expAvg = make([]T, n)
		s.expAvgSq = make([]T, n)
	}
	return s
}

// Config returns the configuration the state was made with.
func (s *State[T]) Config() Config { return s.cfg }

// Len returns the number of parameters the state is for.
func (s *State[T]) Len() int { return s.n }

// Steps returns the number of updates applied so far (Adam's "step" in
// PyTorch; PyTorch's SGD keeps no count).
func (s *State[T]) Steps() int { return s.steps }

// Step applies one update to param, in place, from the gradient grad, which
// it does not modify. It allocates nothing.
//
// Step panics, naming both lengths, unless len(param) and len(grad) equal the
// parameter count the state was made for.
func (s *State[T]) Step(param, grad []T) { s.step("Step", param, grad, false) }

// StepAscent is Step along the gradient -u: the step for an update u that points
// downhill, as a predictive-coding weight update does. It equals Step(param, -u) bit for
// bit (negation is exact) without a buffer for -u or a pass to fill it.
func (s *State[T]) StepAscent(param, u []T) { s.step("StepAscent", param, u, true) }

// StepAscentFinite is StepAscent that also reports whether every new param is finite (no
// NaN, no infinity), the check a predictive-coding network makes of its weights after each
// step: the common step (SGD with momentum after the first, vmath.MomentumStep) answers
// from its own pass over param, any other from a pass after it.
func (s *State[T]) StepAscentFinite(param, u []T) bool {
	if s.step("StepAscentFinite", param, u, true) {
		return true
	}
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return vmath.AllFinite32(as32(param))
	}
	return vmath.AllFinite(as64(param))
}

// step applies the update and reports true where it has checked, in its own pass, that
// every new param is finite; false says not finite, or not checked.
func (s *State[T]) step(op string, param, grad []T, negate bool) (finite bool) {
	if len(param) != s.n || len(grad) != s.n {
		panic(fmt.Sprintf("optim: %s: len(param) = %d, len(grad) = %d, want %d (the state's parameter count)",
			op, len(param), len(grad), s.n))
	}
	switch s.cfg.Kind {
	case SGD:
		finite = s.stepSGD(param, grad, negate)
	case Adam:
		s.stepAdam(param, grad, negate)
	default:
		panic("optim: " + op + " on a State not made by Config.NewState")
	}
	s.steps++
	return finite
}

// How the arithmetic mirrors PyTorch. Each line of the Python below is one
// ATen CPU kernel. On x86-64 with AVX2 (checked against torch 1.13) those
// kernels fuse add(self, other, alpha) = self + alpha*other into
// fma(other, alpha, self), and addcmul(self, t1, t2, value) =
// self + (value*t1)*t2 into fma(value*t1, t2, self); addcdiv(self, t1, t2,
// value) = self + (value*t1)/t2 has nothing to fuse. The code below makes
// exactly those fusions with math.FMA, which is exact on every platform (one
// instruction wherever the CPU has FMA), and rounds every other product on
// its own: the explicit float64 conversions forbid the compiler any other
// fusion. The result is bitwise equal to PyTorch's on such machines, and the
// same on every architecture and GOAMD64 level.
//
// In float32 the same operations round in float32, as torch's float32
// kernels do: the scalars (lr, momentum, the bias corrections and step size)
// are computed in float64 as above and rounded to float32 where torch passes
// them into a float32 operation, and the fused operations are vmath.FMA32.

// stepSGD mirrors torch.optim.sgd._single_tensor_sgd:
//
//	d_p = d_p.add(param, alpha=weight_decay)            # if weight_decay != 0
//	buf = clone(d_p)                                    # first step
//	buf.mul_(momentum).add_(d_p, alpha=1 - dampening)   # later steps
//	d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
//	param.add_(d_p, alpha=-lr)
//
// It reports step's finite, true only from the vectorised common step.
func (s *State[T]) stepSGD(param, grad []T, negate bool) (finite bool) {
	var (
		negLR     = T(-s.cfg.LR)
		wd        = T(s.cfg.WeightDecay)
		momentum  = T(s.cfg.Momentum)
		keep      = T(1 - s.cfg.Dampening)
		nesterov  = s.cfg.Nesterov
		firstStep = s.steps == 0
	)
	grad = grad[:len(param)]
	if momentum == 0 {
		for i, p := range param {
			g := grad[i]
			if negate {
				g = -g
			}
			if wd != 0 {
				if r, ok := fma(p, wd, g); ok {
					g = r
				} else {
					g = fmaExact(p, wd, g)
				}
			}
			if r, ok := fma(g, negLR, p); ok {
				param[i] = r
			} else {
				param[i] = fmaExact(g, negLR, p)
			}
		}
		return false
	}
	buf := s.mom[:len(param)]
	if !firstStep && wd == 0 && !nesterov {
		// The common step, vectorised: the loop below with fma(-g, keep, ·) written
		// fma(g, -keep, ·), the same exact product, so the same bits (docs/design.md §6).
		k := keep
		if negate {
			k = -keep
		}
		if unsafe.Sizeof(negLR) == 4 {
			return vmath.MomentumStep32(as32(param), as32(grad), as32(buf), float32(negLR), float32(k), float32(momentum))
		}
		return vmath.MomentumStep(as64(param), as64(grad), as64(buf), float64(negLR), float64(k), float64(momentum))
	}
	for i, p := range param {
		g := grad[i]
		if negate {
			g = -g
		}
		if wd != 0 {
			if r, ok := fma(p, wd, g); ok {
				g = r
			} else {
				g = fmaExact(p, wd, g)
			}
		}
		b := g
		if !firstStep {
			bm := T(buf[i] * momentum)
			if keep == 1 {
				// Without dampening the fused g·1 + bm is the rounded sum, which needs
				// no float32 emulation.
				b = g + bm
			} else if r, ok := fma(g, keep, bm); ok {
				b = r
			} else {
				b = fmaExact(g, keep, bm)
			}
		}
		buf[i] = b
		if nesterov {
			if r, ok := fma(b, momentum, g); ok {
				g = r
			} else {
				g = fmaExact(b, momentum, g)
			}
		} else {
			g = b
		}
		if r, ok := fma(g, negLR, p); ok {
			param[i] = r
		} else {
			param[i] = fmaExact(g, negLR, p)
		}
	}
	return false
}

// stepAdam mirrors torch.optim.adam._single_tensor_adam (amsgrad=False,
// capturable=False):
//
//	step_t += 1
//	grad = grad.add(param, alpha=weight_decay)          # if weight_decay != 0
//	exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
//	exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//	step_size = lr / (1 - beta1 ** step)
//	denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
//	param.addcdiv_(exp_avg, denom, value=-step_size)
func (s *State[T]) stepAdam(param, grad []T, negate bool) {
	var (
		t          = s.steps + 1
		wd         = T(s.cfg.WeightDecay)
		beta1      = T(s.cfg.Beta1)
		beta2      = T(s.cfg.Beta2)
		eps        = T(s.cfg.Eps)
		oneMinusB1 = T(1 - s.cfg.Beta1)
		oneMinusB2 = T(1 - s.cfg.Beta2)
		bc1        = 1 - powInt(s.cfg.Beta1, t)
		bc2Sqrt    = T(math.Sqrt(1 - powInt(s.cfg.Beta2, t)))
		negStep    = T(-(s.cfg.LR / bc1))
		m          = s.expAvg[:len(param)]
		v          = s.expAvgSq[:len(param)]
	)
	grad = grad[:len(param)]
	for i, p := range param {
		g := grad[i]
		if negate {
			g = -g
		}
		if wd != 0 {
			if r, ok := fma(p, wd, g); ok {
				g = r
			} else {
				g = fmaExact(p, wd, g)
			}
		}
		mb, vb, gb := T(m[i]*beta1), T(v[i]*beta2), T(oneMinusB2*g)
		mi, ok := fma(g, oneMinusB1, mb)
		if !ok {
			mi = fmaExact(g, oneMinusB1, mb)
		}
		vi, ok := fma(gb, g, vb)
		if !ok {
			vi = fmaExact(gb, g, vb)
		}
		m[i], v[i] = mi, vi
		// The square root of a float32 computed in float64 and rounded is the correctly
		// rounded float32 square root.
		denom := T(T(math.Sqrt(float64(vi)))/bc2Sqrt) + eps
		param[i] = p + T(negStep*mi)/denom
	}
}

// powInt returns x**n for n >= 0, correctly rounded in all but vanishingly
// rare cases, as Python's ** (C's pow) computes Adam's bias corrections.
// math.Pow multiplies by repeated squaring in plain float64 and can be an ulp
// or two off, which 1 - beta2**t magnifies a thousandfold. Here the squaring
// runs in double-double arithmetic (about 100 bits), rounded once at the end.
func powInt(x float64, n int) float64 {
	hi, lo := 1.0, 0.0
	xHi, xLo := x, 0.0
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			hi, lo = mulDoubleDouble(hi, lo, xHi, xLo)
		}
		xHi, xLo = mulDoubleDouble(xHi, xLo, xHi, xLo)
	}
	return hi + lo
}

// mulDoubleDouble returns (aHi+aLo)*(bHi+bLo) as an unevaluated sum hi+lo.
func mulDoubleDouble(aHi, aLo, bHi, bLo float64) (hi, lo float64) {
	p := aHi * bHi
	e := math.FMA(aHi, bHi, -p) // the rounding error of p, exactly
	e += float64(aHi*bLo) + float64(aLo*bHi)
	hi = p + e
	lo = e - (hi - p)
	return hi, lo
}

// bufferNames returns the names of the buffers the state's algorithm keeps,
// sorted.
func (s *State[T]) bufferNames() []string {
	switch {
	case s.cfg.Kind == Adam:
		return []string{BufExpAvg, BufExpAvgSq}
	case s.mom != nil:
		return []string{BufMomentum}
	}
	return nil
}

func (s *State[T]) buffer(name string) []T {
	switch name {
	case BufMomentum:
		return s.mom
	case BufExpAvg:
		return s.expAvg
	case BufExpAvgSq:
		return s.expAvgSq
	}
	return nil
}

// Buffers returns copies of the state's buffers under PyTorch's names:
// "momentum_buffer" for SGD with momentum (zeros before the first step,
// where PyTorch has none yet), "exp_avg" and "exp_avg_sq" for Adam, and an
// empty map for SGD without momentum. They are copies so that a checkpoint
// writer may encode them while the owner goes on stepping.
func (s *State[T]) Buffers() map[string][]T {
	bufs := make(map[string][]T)
	for _, name := range s.bufferNames() {
		bufs[name] = slices.Clone(s.buffer(name))
	}
	return bufs
}

// Restore sets the step count and copies in the buffers, which must be
// exactly those [State.Buffers] returns for this configuration, each of the
// state's length. On error the state is left unchanged.
func (s *State[T]) Restore(steps int, bufs map[string][]T) error {
	if steps < 0 {
		return fmt.Errorf("optim: restore %v state: negative step count %d", s.cfg.Kind, steps)
	}
	want := s.bufferNames()
	for _, name := range want {
		b, ok := bufs[name]
		if !ok {
			return fmt.Errorf("optim: restore %v state: missing buffer %q", s.cfg.Kind, name)
		}
		if len(b) != s.n {
			return fmt.Errorf("optim: restore %v state: buffer %q has %d values, want %d", s.cfg.Kind, name, len(b), s.n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(bufs)) {
		if !slices.Contains(want, name) {
			return fmt.Errorf("optim: restore %v state: unexpected buffer %q (want %s)", s.cfg.Kind, name, describe(want))
		}
	}
	for _, name := range want {
		copy(s.buffer(name), bufs[name])
	}
	s.steps = steps
	return nil
}

func describe(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return `"` + strings.Join(names, `", "`) + `"`
}

// as32 views a []T that is a []float32 as one, without copying.
func as32[T tensor.Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// as64 views a []T that is a []float64 as one, without copying.
func as64[T tensor.Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// fma returns x*y + z rounded once to T, and true, or false where it cannot tell cheaply:
// the caller then takes fmaExact's result. It is small enough to be inlined into the
// loops, which a function that made the exact call itself is not (a call per element
// costs more than the step). In float64 it is math.FMA and always true. In float32 the
// product is exact in float64, and the float64 sum s rounded to float32 is the correctly
// rounded result when s is exact (its rounding error e, by TwoSum, is 0) or when s is
// neither halfway between two float32 values nor below float32's normal range; else
// (about one inexact operation in 2^29) it says false.
func fma[T tensor.Float](x, y, z T) (T, bool) {
	if unsafe.Sizeof(x) == 8 {
		return T(math.FMA(float64(x), float64(y), float64(z))), true
	}
	// vmath.FMA32Fast's check, written out: calling it would take fma past the inliner's
	// budget (cost 79 of 80 as it stands: check with -gcflags=-m=2 after a change).
	xy, zz := float64(x)*float64(y), float64(z)
	s := xy + zz
	bp := s - xy
	b := math.Float64bits(s)
	return T(s), b&(1<<29-1) != 1<<28 && b<<1 >= 897<<53 || (xy-(s-bp))+(zz-bp) == 0
}

// fmaExact is x*y + z rounded once to T: math.FMA in float64, vmath.FMA32 in float32.
func fmaExact[T tensor.Float](x, y, z T) T {
	if unsafe.Sizeof(x) == 8 {
		return T(math.FMA(float64(x), float64(y), float64(z)))
	}
	return T(vmath.FMA32(float32(x), float32(y), float32(z)))
}
