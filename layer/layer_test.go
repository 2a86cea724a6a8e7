package layer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

func randDense(rng *rand.Rand, r, c int, scale float64) *mat.Dense {
	m := mat.NewDense(r, c, nil)
	for i := range m.RawMatrix().Data {
		m.RawMatrix().Data[i] = scale * rng.NormFloat64()
	}
	return m
}

// relErr is ||got - want|| / ||want||.
func relErr(got, want []float64) float64 {
	d := make([]float64, len(got))
	floats.SubTo(d, got, want)
	return floats.Norm(d, 2) / floats.Norm(want, 2)
}

// centralDiff returns the central finite difference of f with respect to every entry of p.
func centralDiff(p []float64, f func() float64) []float64 {
	const h = 1e-6
	out := make([]float64, len(p))
	for i := range p {
		old := p[i]
		p[i] = old + h
		fp := f()
		p[i] = old - h
		fm := f()
		p[i] = old
		out[i] = (fp - fm) / (2 * h)
	}
	return out
}

func TestDenseVJPsMatchFiniteDifferences(t *testing.T) {
	for _, act := range []Activation{Identity, Tanh, ReLU, Sigmoid} {
		t.Run(act.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(act)))
			const batch, in, out = 5, 7, 4
			d, err := NewDense(in, out, act)
			require.NoError(t, err)
			d.InitPyTorch(rng)
			v := randDense(rng, batch, in, 1)
			c := randDense(rng, batch, out, 1)

			// L = sum(c ⊙ f(v)); its gradients are exactly the VJPs with cotangent c.
			y := mat.NewDense(batch, out, nil)
			loss := func() float64 {
				d.Forward(y, nil, v)
				return mat.Sum(func() *mat.Dense { var p mat.Dense; p.MulElem(y, c); return &p }())
			}
			deriv := mat.NewDense(batch, out, nil)
			d.Forward(y, deriv, v)
			delta := mat.NewDense(batch, out, nil)
			Gate(delta, deriv, c)
			jtc := mat.NewDense(batch, in, nil)
			d.InputVJP(jtc, delta)
			g := NewGrad(d)
			d.WeightVJP(g.W, g.B, v, delta)

			require.Less(t, relErr(jtc.RawMatrix().Data, centralDiff(v.RawMatrix().Data, loss)), 1e-6, "input VJP")
			p := d.Params()
			require.Less(t, relErr(g.W.RawMatrix().Data, centralDiff(p[0], loss)), 1e-6, "weight VJP")
			require.Less(t, relErr(g.B.RawVector().Data, centralDiff(p[1], loss)), 1e-6, "bias VJP")
		})
	}
}

func TestLossGradientsMatchFiniteDifferences(t *testing.T) {
	for _, loss := range []Loss{NLL{}, SquaredError{}} {
		t.Run(loss.Name(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, 0))
			const batch, k = 6, 10
			z := randDense(rng, batch, k, 3)
			labels := make([]int, batch)
			for i := range labels {
				labels[i] = rng.IntN(k)
			}
			neg := mat.NewDense(batch, k, nil)
			loss.NegGrad(neg, z, labels)
			fd := centralDiff(z.RawMatrix().Data, func() float64 { return loss.Value(z, labels) })
			floats.Scale(-1, fd)
			require.Less(t, relErr(neg.RawMatrix().Data, fd), 1e-6)
		})
	}
}

func TestNLLGradientIsSoftmaxMinusOneHotOverB(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	const batch, k = 4, 10
	z := randDense(rng, batch, k, 2)
	labels := []int{0, 3, 9, 3}
	neg := mat.NewDense(batch, k, nil)
	NLL{}.NegGrad(neg, z, labels)
	for i := 0; i < batch; i++ {
		var s float64
		for j := 0; j < k; j++ {
			s += math.Exp(z.At(i, j))
		}
		for j := 0; j < k; j++ {
			want := math.Exp(z.At(i, j)) / s
			if j == labels[i] {
				want--
			}
			want /= batch
			require.InDelta(t, want, -neg.At(i, j), 1e-15)
		}
	}
}

func TestNLLIsStableForHugeLogits(t *testing.T) {
	z := mat.NewDense(2, 3, []float64{1000, -1000, 0, -1000, 1000, 999})
	labels := []int{0, 2}
	v := NLL{}.Value(z, labels)
	require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
	// Row 0 is certain and right (loss 0); row 1 has loss lse - 999 = 1 + log(1 + e⁻¹).
	require.InDelta(t, (1+math.Log1p(math.Exp(-1)))/2, v, 1e-12)
	g := mat.NewDense(2, 3, nil)
	NLL{}.NegGrad(g, z, labels)
	for _, x := range g.RawMatrix().Data {
		require.False(t, math.IsNaN(x) || math.IsInf(x, 0))
	}
	require.InDelta(t, 0, g.At(0, 0), 1e-300)
}

func TestInitPyTorchBoundsAndSeed(t *testing.T) {
	d, err := NewDense(784, 64, Tanh)
	require.NoError(t, err)
	d.InitPyTorch(rand.New(rand.NewPCG(7, 0)))
	bound := 1 / math.Sqrt(784)
	var lo, hi float64
	for _, p := range d.Params() {
		for _, x := range p {
			require.LessOrEqual(t, math.Abs(x), bound)
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	// With 50,240 draws the extremes come within 1% of the bounds.
	require.Less(t, lo, -0.99*bound)
	require.Greater(t, hi, 0.99*bound)

	e, _ := NewDense(784, 64, Tanh)
	e.InitPyTorch(rand.New(rand.NewPCG(7, 0)))
	require.True(t, mat.Equal(d.W, e.W) && mat.Equal(d.B, e.B), "same seed, same weights")
}

func TestShapeErrorsNameBothShapes(t *testing.T) {
	d, err := NewDense(3, 2, Tanh)
	require.NoError(t, err)
	require.PanicsWithError(t, "layer: Dense.Forward: output is 4x3, want 4x2", func() {
		d.Forward(mat.NewDense(4, 3, nil), nil, mat.NewDense(4, 3, nil))
	})
	require.PanicsWithError(t, "layer: Dense.InputVJP: destination is 4x2, want 4x3", func() {
		d.InputVJP(mat.NewDense(4, 2, nil), mat.NewDense(4, 2, nil))
	})
	_, err = NewDense(0, 2, Tanh)
	require.ErrorContains(t, err, "0 -> 2")
}

func TestActivationNames(t *testing.T) {
	for _, a := range []Activation{Identity, Tanh, ReLU, Sigmoid} {
		got, err := ParseActivation(a.String())
		require.NoError(t, err)
		require.Equal(t, a, got)
	}
	_, err := ParseActivation("swish")
	require.ErrorContains(t, err, `unknown activation "swish"`)
}

func TestRulesMatchTheirFormulas(t *testing.T) {
	x := mat.NewDense(1, 3, []float64{1, 2, 3})
	e := mat.NewDense(1, 3, []float64{0.5, -1, 2})
	j := mat.NewDense(1, 3, []float64{1, 1, 1})
	StateStep(x, e, j, 2, 0.1) // x - 0.1*(2e - j)
	require.InDeltaSlice(t, []float64{1 - 0.1*(1-1), 2 - 0.1*(-2-1), 3 - 0.1*(4-1)}, x.RawMatrix().Data, 1e-15)
	FixedPredictionErrorStep(e, j, 1) // gamma 1 sets e to j exactly
	require.Equal(t, []float64{1, 1, 1}, e.RawMatrix().Data)
	p := mat.NewDense(1, 3, []float64{1, 1, 1})
	PredictionError(e, x, p)
	require.InDeltaSlice(t, []float64{x.At(0, 0) - 1, x.At(0, 1) - 1, x.At(0, 2) - 1}, e.RawMatrix().Data, 0)
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 0))
	d, _ := NewDense(300, 200, Tanh) // large enough to need several tiles
	d.InitPyTorch(rng)
	v := randDense(rng, 64, 300, 1)
	y, deriv, delta := mat.NewDense(64, 200, nil), mat.NewDense(64, 200, nil), mat.NewDense(64, 200, nil)
	jtc := mat.NewDense(64, 300, nil)
	g := NewGrad(d)
	allocs := testing.AllocsPerRun(10, func() {
		d.Forward(y, deriv, v)
		Gate(delta, deriv, y)
		d.InputVJP(jtc, delta)
		d.WeightVJP(g.W, g.B, v, delta)
		StateStep(jtc, v, v, 1, 0.1)
		FixedPredictionErrorStep(jtc, v, 0.1)
		PredictionError(delta, y, deriv)
		ScaleInto(delta, y, 2)
	})
	require.Zero(t, allocs)
}

func TestTiledProductEqualsGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	d, _ := NewDense(250, 300, Identity)
	d.InitPyTorch(rng)
	v := randDense(rng, 130, 250, 1)
	y := mat.NewDense(130, 300, nil)
	d.Forward(y, nil, v)
	var want mat.Dense
	want.Mul(v, d.W.T())
	for i := 0; i < 130; i++ {
		for j := 0; j < 300; j++ {
			require.InDelta(t, want.At(i, j)+d.B.AtVec(j), y.At(i, j), 1e-12)
		}
	}
}

func ExampleDense() {
	d, _ := NewDense(2, 1, Tanh)
	d.W.SetRow(0, []float64{1, -1})
	d.B.SetVec(0, 0.5)
	v := mat.NewDense(1, 2, []float64{2, 2})
	y, deriv := mat.NewDense(1, 1, nil), mat.NewDense(1, 1, nil)
	d.Forward(y, deriv, v)
	fmt.Printf("f(v) = tanh(0.5) = %.4f, g'(a) = %.4f\n", y.At(0, 0), deriv.At(0, 0))

	// The input VJP with cotangent 1 is g'(a) W.
	delta, jtc := mat.NewDense(1, 1, nil), mat.NewDense(1, 2, nil)
	Gate(delta, deriv, mat.NewDense(1, 1, []float64{1}))
	d.InputVJP(jtc, delta)
	fmt.Printf("Jᵀ1 = [%.4f %.4f]\n", jtc.At(0, 0), jtc.At(0, 1))
	// Output:
	// f(v) = tanh(0.5) = 0.4621, g'(a) = 0.7864
	// Jᵀ1 = [0.7864 -0.7864]
}

func TestStatsRulesMatchThePlainRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	x, p, j := randDense(rng, 5, 7, 1), randDense(rng, 5, 7, 1), randDense(rng, 5, 7, 1)
	old := randDense(rng, 5, 7, 1)

	// The plain rules and the Stats rules share vmath's kernels, so both are checked
	// against plain Go arithmetic (vmath's own tests cover lengths, NaN and infinities).
	e1, e2, e3 := mat.DenseCopyOf(old), mat.DenseCopyOf(old), mat.NewDense(5, 7, nil)
	PredictionError(e1, x, p)
	st := PredictionErrorStats(e2, x, p)
	size, change := st.Size, st.Change
	e3.Sub(x, p)
	require.Equal(t, e3.RawMatrix().Data, e1.RawMatrix().Data)
	require.Equal(t, e1.RawMatrix().Data, e2.RawMatrix().Data)
	var d mat.Dense
	d.Sub(e2, old)
	require.Equal(t, floats.Max(absAll(e2)), size)
	require.Equal(t, floats.Max(absAll(&d)), change)
	require.InEpsilon(t, sumSquares(e2), st.Squares, 1e-14)

	f1, f2, f3 := mat.DenseCopyOf(old), mat.DenseCopyOf(old), mat.DenseCopyOf(old)
	FixedPredictionErrorStep(f1, j, 0.3)
	st = FixedPredictionErrorStepStats(f2, j, 0.3)
	size, change = st.Size, st.Change
	f3.Apply(func(r, c int, v float64) float64 { return v - 0.3*(v-j.At(r, c)) }, f3)
	require.Equal(t, f3.RawMatrix().Data, f1.RawMatrix().Data)
	require.Equal(t, f1.RawMatrix().Data, f2.RawMatrix().Data)
	require.Equal(t, floats.Max(absAll(f2)), size)
	require.Greater(t, change, 0.0)
	require.InEpsilon(t, sumSquares(f2), st.Squares, 1e-14)
	require.Equal(t, st.Squares, MeasureError(f2).Squares, "MeasureError sums in the rules' order")

	p.Set(2, 3, math.NaN())
	st = PredictionErrorStats(e2, x, p)
	require.True(t, math.IsNaN(st.Size) && math.IsNaN(st.Change) && math.IsNaN(st.Squares))
}

// sumSquares is the plain sequential Σv² of m's elements.
func sumSquares(m *mat.Dense) float64 {
	s := 0.0
	for _, v := range m.RawMatrix().Data {
		s += v * v
	}
	return s
}

func absAll(m *mat.Dense) []float64 {
	out := append([]float64(nil), m.RawMatrix().Data...)
	for i, v := range out {
		out[i] = math.Abs(v)
	}
	return out
}

func TestMeasureError(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name    string
		data    []float64
		want    float64
		squares float64
	}{
		{"zeros", []float64{0, math.Copysign(0, -1), 0, 0, 0, 0}, 0, 0},
		{"negative largest", []float64{0.5, -3, 2, 0, 1, -2.5}, 3, 20.5},
		{"infinity", []float64{1, -inf, 2, 0, 1, 0}, inf, inf},
		{"NaN beats infinity", []float64{inf, 1, nan, 0, 1, 0}, nan, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MeasureError(mat.NewDense(2, 3, tc.data))
			require.Equal(t, math.Float64bits(math.Abs(tc.want)), math.Float64bits(math.Abs(got.Size)), "got %v", got.Size)
			require.Equal(t, math.IsNaN(tc.squares), math.IsNaN(got.Squares), "squares %v", got.Squares)
			if !math.IsNaN(tc.squares) {
				require.Equal(t, tc.squares, got.Squares)
			}
			require.Zero(t, got.Change)
		})
	}
	// A view skips the elements outside it.
	m := mat.NewDense(2, 3, []float64{1, -7, 9, -2, 8, 9})
	got := MeasureError(m.Slice(0, 2, 0, 2).(*mat.Dense))
	require.Equal(t, 8.0, got.Size)
	require.Equal(t, 1.0+49+4+64, got.Squares)
}
