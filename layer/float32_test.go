package layer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// round32 returns m rounded to float32.
func round32(m *tensor.Matrix[float64]) *tensor.Matrix[float32] {
	r := tensor.New[float32](m.Rows, m.Cols, nil)
	tensor.Convert(r, m)
	return r
}

// widen32 returns m widened to float64 (exactly).
func widen32(m *tensor.Matrix[float32]) *tensor.Matrix[float64] {
	w := tensor.New[float64](m.Rows, m.Cols, nil)
	tensor.Convert(w, m)
	return w
}

// dense32 returns d rounded to float32, and d set to the rounded values, so that the two
// layers differ only in their arithmetic.
func dense32(t *testing.T, d *Dense[float64]) *Dense[float32] {
	c, err := NewDense[float32](d.In(), d.Out(), d.Act)
	require.NoError(t, err)
	tensor.Convert(c.W, d.W)
	tensor.ConvertSlice(c.B, d.B)
	tensor.Convert(d.W, c.W)
	tensor.ConvertSlice(d.B, c.B)
	return c
}

// TestKernelsAgreeInFloat32: every kernel computes a float32 layer's three products to
// float32's precision of the float64 products of the same values (sgemm, not dgemm: a
// float32 product equal to the float64 one rounded would mean it summed in float64).
func TestKernelsAgreeInFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 0))
	for _, s := range []struct{ batch, in, out int }{{1, 784, 64}, {64, 784, 64}, {13, 65, 63}, {64, 300, 200}} {
		d, err := NewDense[float64](s.in, s.out, Identity)
		require.NoError(t, err)
		d.InitPyTorch(rng)
		d32 := dense32(t, d)
		v32, delta32 := round32(randDense(rng, s.batch, s.in, 1)), round32(randDense(rng, s.batch, s.out, 1))
		v, delta := widen32(v32), widen32(delta32)
		y, jtc, g := tensor.New[float64](s.batch, s.out, nil), tensor.New[float64](s.batch, s.in, nil), NewGrad(d)
		d.Forward(y, nil, v)
		d.InputVJP(jtc, delta)
		d.WeightVJP(g.W, g.B, v, delta)
		for _, k := range availableKernels() {
			t.Run(fmt.Sprintf("%v/b%d/%dx%d", k, s.batch, s.in, s.out), func(t *testing.T) {
				y32, jtc32, g32 := tensor.New[float32](s.batch, s.out, nil), tensor.New[float32](s.batch, s.in, nil), NewGrad(d32)
				withKernel(t, k, func() {
					d32.Forward(y32, nil, v32)
					d32.InputVJP(jtc32, delta32)
					d32.WeightVJP(g32.W, g32.B, v32, delta32)
				})
				requireClose32(t, "forward", y32, y, s.in)
				requireClose32(t, "input VJP", jtc32, jtc, s.out)
				requireClose32(t, "weight VJP", g32.W, g.W, s.batch)
				requireClose32(t, "bias VJP", tensor.New(1, s.out, g32.B), tensor.New(1, s.out, g.B), s.batch)
			})
		}
	}
}

// requireClose32 compares a float32 result with the float64 one to float32's rounding of
// a sum of k products of operands of unit size, and requires it to differ from the
// float64 result rounded somewhere when k > 1 (it is computed in float32).
func requireClose32(t *testing.T, what string, got *tensor.Matrix[float32], want *tensor.Matrix[float64], k int) {
	t.Helper()
	tol := 1e-6 * float64(k) * 4
	rounded := true
	for i := range want.Rows {
		for j := range want.Cols {
			g, w := float64(got.At(i, j)), want.At(i, j)
			require.LessOrEqual(t, math.Abs(g-w), tol, "%s: element (%d, %d) is %v, want %v", what, i, j, g, w)
			rounded = rounded && got.At(i, j) == float32(w)
		}
	}
	if k > 8 && want.Rows*want.Cols > 8 {
		require.False(t, rounded, "%s: the float32 product is the float64 one rounded: it was not summed in float32", what)
	}
}

// TestFloat32ProductsAreReproducible: a float32 product gives the same bits every time,
// with every kernel.
func TestFloat32ProductsAreReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 0))
	d, _ := NewDense[float32](300, 200, Tanh)
	d.InitPyTorch(rng)
	v := round32(randDense(rng, 64, 300, 1))
	for _, k := range availableKernels() {
		withKernel(t, k, func() {
			y1, y2 := tensor.New[float32](64, 200, nil), tensor.New[float32](64, 200, nil)
			d.Forward(y1, nil, v)
			d.Forward(y2, nil, v)
			require.Equal(t, y1.Data, y2.Data, "kernel %v", k)
		})
	}
}

// TestFloat32InitIsFloat64Rounded: from one seed, a float32 layer starts from the float64
// layer's draws rounded (docs of InitPyTorch).
func TestFloat32InitIsFloat64Rounded(t *testing.T) {
	a, _ := NewDense[float64](30, 20, Tanh)
	b, _ := NewDense[float32](30, 20, Tanh)
	a.InitPyTorch(rand.New(rand.NewPCG(7, 1)))
	b.InitPyTorch(rand.New(rand.NewPCG(7, 1)))
	for k, p := range a.Params() {
		for i, v := range p {
			require.Equal(t, float32(v), b.Params()[k][i])
		}
	}
}

// TestFloat32ActivationsAndRules: the activations are vmath's float32 kernels, and the
// rules round every operation in float32 (no fused multiply-add).
func TestFloat32ActivationsAndRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 0))
	for _, act := range []Activation{Identity, Tanh, ReLU, Sigmoid} {
		d, _ := NewDense[float32](5, 7, act)
		d.InitPyTorch(rng)
		v := round32(randDense(rng, 3, 5, 2))
		y, deriv := tensor.New[float32](3, 7, nil), tensor.New[float32](3, 7, nil)
		d.Forward(y, deriv, v)
		a := tensor.New[float32](3, 7, nil)
		for i := range 3 {
			copy(a.Row(i), d.B)
		}
		gemm(false, true, 1, v, d.W, 1, a)
		want, wantD := append([]float32(nil), a.Data...), make([]float32, len(a.Data))
		switch act {
		case Identity:
			for i := range wantD {
				wantD[i] = 1
			}
		case Tanh:
			vmath.TanhInPlace32(want, wantD)
		case ReLU:
			for i, x := range want {
				if x > 0 {
					wantD[i] = 1
				} else {
					want[i] = 0
				}
			}
		case Sigmoid:
			vmath.SigmoidInPlace32(want, wantD)
		}
		require.Equal(t, want, y.Data, "%v", act)
		require.Equal(t, wantD, deriv.Data, "%v", act)
	}

	x, e, j := round32(randDense(rng, 4, 9, 1)), round32(randDense(rng, 4, 9, 1)), round32(randDense(rng, 4, 9, 1))
	want := append([]float32(nil), x.Data...)
	pi, gamma := float32(0.7), float32(0.1)
	for i := range want {
		p := pi * e.Data[i]
		s := p - j.Data[i]
		st := gamma * s
		want[i] -= st
	}
	StateStep(x, e, j, 0.7, 0.1)
	require.Equal(t, want, x.Data)

	s := tensor.New[float32](4, 9, nil)
	ScaleInto(s, e, 0.3)
	for i, v := range e.Data {
		require.Equal(t, float32(0.3)*v, s.Data[i])
	}
	got := append([]float32(nil), e.Data...)
	ge := tensor.New(4, 9, got)
	st := FixedPredictionErrorStepStats(ge, j, 0.25)
	for i, v := range e.Data {
		require.Equal(t, v-float32(0.25)*(v-j.Data[i]), got[i])
	}
	require.Equal(t, MeasureError(ge).Squares, st.Squares)
	require.Equal(t, MeasureError(ge).Size, st.Size)
}

// TestFloat32Losses: the losses in float32 are the float64 losses to float32's precision,
// and NegGradValue is NegGrad and LossValue bit for bit.
func TestFloat32Losses(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 0))
	for _, loss := range []Loss{NLL{}, SquaredError{}} {
		z := round32(randDense(rng, 6, 10, 3))
		z64 := widen32(z)
		labels := []int{0, 3, 9, 3, 2, 5}
		g, g64 := tensor.New[float32](6, 10, nil), tensor.New[float64](6, 10, nil)
		NegGrad(loss, g, z, labels)
		NegGrad(loss, g64, z64, labels)
		requireClose32(t, loss.Name(), g, g64, 1)
		require.InEpsilon(t, LossValue(loss, z64, labels), LossValue(loss, z, labels), 1e-6)
		g2 := tensor.New[float32](6, 10, nil)
		require.Equal(t, LossValue(loss, z, labels), NegGradValue(loss, g2, z, labels))
		require.Equal(t, g.Data, g2.Data)
		require.Equal(t, Correct(z64, labels), Correct(z, labels))
	}
}

func TestFloat32FirstNonFinite(t *testing.T) {
	v := make([]float32, 11)
	require.Equal(t, -1, FirstNonFinite(v))
	v[9] = float32(math.Inf(-1))
	require.Equal(t, 9, FirstNonFinite(v))
	v[4] = float32(math.NaN())
	require.Equal(t, 4, FirstNonFinite(v))
	v = []float32{math.MaxFloat32, -math.MaxFloat32}
	require.Equal(t, -1, FirstNonFinite(v), "the largest finite values are finite")
}

func TestFloat32HotPathDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(36, 0))
	d, _ := NewDense[float32](300, 200, Tanh)
	d.InitPyTorch(rng)
	v := round32(randDense(rng, 64, 300, 1))
	y, deriv, delta := tensor.New[float32](64, 200, nil), tensor.New[float32](64, 200, nil), tensor.New[float32](64, 200, nil)
	jtc := tensor.New[float32](64, 300, nil)
	g := NewGrad(d)
	for _, k := range availableKernels() {
		withKernel(t, k, func() {
			allocs := testing.AllocsPerRun(10, func() {
				d.Forward(y, deriv, v)
				Gate(delta, deriv, y)
				d.InputVJP(jtc, delta)
				d.WeightVJP(g.W, g.B, v, delta)
				StateStep(jtc, v, v, 1, 0.1)
				FixedPredictionErrorStepStats(jtc, v, 0.1)
				PredictionErrorStats(delta, y, deriv)
				ScaleInto(delta, y, 2)
				MeasureError(delta)
			})
			require.Zero(t, allocs, "kernel %v", k)
		})
	}
}
