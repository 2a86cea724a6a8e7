package layer

import (
	"fmt"
	"github.com/pcnet/pcnet/tensor"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

func randDense(rng *rand.Rand, r, c int, scale float64) *tensor.Matrix[float64] {
	m := tensor.New[float64](r, c, nil)
	for i := range m.Data {
		m.Data[i] = scale * rng.NormFloat64()
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
			d, err := NewDense[float64](in, out, act)
			require.NoError(t, err)
			d.InitPyTorch(rng)
			v := randDense(rng, batch, in, 1)
			c := randDense(rng, batch, out, 1)

			// L = sum(c ⊙ f(v)); its gradients are exactly the VJPs with cotangent c.
			y := tensor.New[float64](batch, out, nil)
			loss := func() float64 {
				d.Forward(y, nil, v)
				return mat.Sum(func() *mat.Dense { var p mat.Dense; p.MulElem(gm(y), gm(c)); return &p }())
			}
			deriv := tensor.New[float64](batch, out, nil)
			d.Forward(y, deriv, v)
			delta := tensor.New[float64](batch, out, nil)
			Gate(delta, deriv, c)
			jtc := tensor.New[float64](batch, in, nil)
			d.InputVJP(jtc, delta)
			g := NewGrad(d)
			d.WeightVJP(g.W, g.B, v, delta)

			require.Less(t, relErr(jtc.Data, centralDiff(v.Data, loss)), 1e-6, "input VJP")
			p := d.Params()
			require.Less(t, relErr(g.W.Data, centralDiff(p[0], loss)), 1e-6, "weight VJP")
			require.Less(t, relErr(g.B, centralDiff(p[1], loss)), 1e-6, "bias VJP")
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
			neg := tensor.New[float64](batch, k, nil)
			NegGrad(loss, neg, z, labels)
			fd := centralDiff(z.Data, func() float64 { return LossValue(loss, z, labels) })
			floats.Scale(-1, fd)
			require.Less(t, relErr(neg.Data, fd), 1e-6)
		})
	}
}

func TestNLLGradientIsSoftmaxMinusOneHotOverB(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	const batch, k = 4, 10
	z := randDense(rng, batch, k, 2)
	labels := []int{0, 3, 9, 3}
	neg := tensor.New[float64](batch, k, nil)
	NegGrad(NLL{}, neg, z, labels)
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
	z := tensor.New[float64](2, 3, []float64{1000, -1000, 0, -1000, 1000, 999})
	labels := []int{0, 2}
	v := LossValue(NLL{}, z, labels)
	require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
	// Row 0 is certain and right (loss 0); row 1 has loss lse - 999 = 1 + log(1 + e⁻¹).
	require.InDelta(t, (1+math.Log1p(math.Exp(-1)))/2, v, 1e-12)
	g := tensor.New[float64](2, 3, nil)
	NegGrad(NLL{}, g, z, labels)
	for _, x := range g.Data {
		require.False(t, math.IsNaN(x) || math.IsInf(x, 0))
	}
	require.InDelta(t, 0, g.At(0, 0), 1e-300)
}

func TestInitPyTorchBoundsAndSeed(t *testing.T) {
	d, err := NewDense[float64](784, 64, Tanh)
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

	e, _ := NewDense[float64](784, 64, Tanh)
	e.InitPyTorch(rand.New(rand.NewPCG(7, 0)))
	require.True(t, mat.Equal(gm(d.W), gm(e.W)) && slices.Equal(d.B, e.B), "same seed, same weights")
}

func TestShapeErrorsNameBothShapes(t *testing.T) {
	d, err := NewDense[float64](3, 2, Tanh)
	require.NoError(t, err)
	require.PanicsWithError(t, "layer: Dense.Forward: output is 4x3, want 4x2", func() {
		d.Forward(tensor.New[float64](4, 3, nil), nil, tensor.New[float64](4, 3, nil))
	})
	require.PanicsWithError(t, "layer: Dense.InputVJP: destination is 4x2, want 4x3", func() {
		d.InputVJP(tensor.New[float64](4, 2, nil), tensor.New[float64](4, 2, nil))
	})
	_, err = NewDense[float64](0, 2, Tanh)
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
	x := tensor.New[float64](1, 3, []float64{1, 2, 3})
	e := tensor.New[float64](1, 3, []float64{0.5, -1, 2})
	j := tensor.New[float64](1, 3, []float64{1, 1, 1})
	StateStep(x, e, j, 2, 0.1) // x - 0.1*(2e - j)
	require.InDeltaSlice(t, []float64{1 - 0.1*(1-1), 2 - 0.1*(-2-1), 3 - 0.1*(4-1)}, x.Data, 1e-15)
	FixedPredictionErrorStep(e, j, 1) // gamma 1 sets e to j exactly
	require.Equal(t, []float64{1, 1, 1}, e.Data)
	p := tensor.New[float64](1, 3, []float64{1, 1, 1})
	PredictionError(e, x, p)
	require.InDeltaSlice(t, []float64{x.At(0, 0) - 1, x.At(0, 1) - 1, x.At(0, 2) - 1}, e.Data, 0)
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 0))
	d, _ := NewDense[float64](300, 200, Tanh) // large enough to need several tiles
	d.InitPyTorch(rng)
	v := randDense(rng, 64, 300, 1)
	y, deriv, delta := tensor.New[float64](64, 200, nil), tensor.New[float64](64, 200, nil), tensor.New[float64](64, 200, nil)
	jtc := tensor.New[float64](64, 300, nil)
	g := NewGrad(d)
	var f Fusion[float64]
	allocs := testing.AllocsPerRun(10, func() {
		d.ForwardFused(&f, y, deriv, v)
		d.VJPs(&f, jtc, g.W, g.B, v, delta, jtc, jtc)
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
	d, _ := NewDense[float64](250, 300, Identity)
	d.InitPyTorch(rng)
	v := randDense(rng, 130, 250, 1)
	y := tensor.New[float64](130, 300, nil)
	d.Forward(y, nil, v)
	var want mat.Dense
	want.Mul(gm(v), gm(d.W).T())
	for i := 0; i < 130; i++ {
		for j := 0; j < 300; j++ {
			require.InDelta(t, want.At(i, j)+d.B[j], y.At(i, j), 1e-12)
		}
	}
}

func ExampleDense() {
	d, _ := NewDense[float64](2, 1, Tanh)
	copy(d.W.Row(0), []float64{1, -1})
	d.B[0] = 0.5
	v := tensor.New[float64](1, 2, []float64{2, 2})
	y, deriv := tensor.New[float64](1, 1, nil), tensor.New[float64](1, 1, nil)
	d.Forward(y, deriv, v)
	fmt.Printf("f(v) = tanh(0.5) = %.4f, g'(a) = %.4f\n", y.At(0, 0), deriv.At(0, 0))

	// The input VJP with cotangent 1 is g'(a) W.
	delta, jtc := tensor.New[float64](1, 1, nil), tensor.New[float64](1, 2, nil)
	Gate(delta, deriv, tensor.New[float64](1, 1, []float64{1}))
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
	e1, e2, e3 := old.Clone(), old.Clone(), tensor.New[float64](5, 7, nil)
	PredictionError(e1, x, p)
	st := PredictionErrorStats(e2, x, p)
	size, change := st.Size, st.Change
	e3 = tm(func() *mat.Dense { var m mat.Dense; m.Sub(gm(x), gm(p)); return &m }())
	require.Equal(t, e3.Data, e1.Data)
	require.Equal(t, e1.Data, e2.Data)
	var d mat.Dense
	d.Sub(gm(e2), gm(old))
	require.Equal(t, floats.Max(absAll(e2)), size)
	require.Equal(t, floats.Max(absAll(tm(&d))), change)
	require.InEpsilon(t, sumSquares(e2), st.Squares, 1e-14)

	f1, f2, f3 := old.Clone(), old.Clone(), old.Clone()
	FixedPredictionErrorStep(f1, j, 0.3)
	st = FixedPredictionErrorStepStats(f2, j, 0.3)
	size, change = st.Size, st.Change
	for i, v := range f3.Data {
		f3.Data[i] = v - 0.3*(v-j.Data[i])
	}
	require.Equal(t, f3.Data, f1.Data)
	require.Equal(t, f1.Data, f2.Data)
	require.Equal(t, floats.Max(absAll(f2)), size)
	require.Greater(t, change, 0.0)
	require.InEpsilon(t, sumSquares(f2), st.Squares, 1e-14)
	require.Equal(t, st.Squares, MeasureError(f2).Squares, "MeasureError sums in the rules' order")

	p.Set(2, 3, math.NaN())
	st = PredictionErrorStats(e2, x, p)
	require.True(t, math.IsNaN(st.Size) && math.IsNaN(st.Change) && math.IsNaN(st.Squares))
}

// sumSquares is the plain sequential Σv² of m's elements.
func sumSquares(m *tensor.Matrix[float64]) float64 {
	s := 0.0
	for _, v := range m.Data {
		s += v * v
	}
	return s
}

func absAll(m *tensor.Matrix[float64]) []float64 {
	out := append([]float64(nil), m.Data...)
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
			got := MeasureError(tensor.New[float64](2, 3, tc.data))
			require.Equal(t, math.Float64bits(math.Abs(tc.want)), math.Float64bits(math.Abs(got.Size)), "got %v", got.Size)
			require.Equal(t, math.IsNaN(tc.squares), math.IsNaN(got.Squares), "squares %v", got.Squares)
			if !math.IsNaN(tc.squares) {
				require.Equal(t, tc.squares, got.Squares)
			}
			require.Zero(t, got.Change)
		})
	}
	// A view skips the elements outside it.
	m := tensor.New[float64](2, 3, []float64{1, -7, 9, -2, 8, 9})
	got := MeasureError(&tensor.Matrix[float64]{Rows: 2, Cols: 2, Stride: 3, Data: m.Data[:5]})
	require.Equal(t, 8.0, got.Size)
	require.Equal(t, 1.0+49+4+64, got.Squares)
}

// gm views a contiguous matrix as gonum's, for the reference computations of the tests.
func gm(m *tensor.Matrix[float64]) *mat.Dense {
	return mat.NewDense(m.Rows, m.Cols, m.Data[:m.Rows*m.Cols])
}

// tm views gonum's matrix as a tensor.Matrix.
func tm(m *mat.Dense) *tensor.Matrix[float64] {
	r := m.RawMatrix()
	return &tensor.Matrix[float64]{Rows: r.Rows, Cols: r.Cols, Stride: r.Stride, Data: r.Data}
}

// TestForwardIntoStridedViews checks that Forward gives the same bits into views with a
// stride wider than their columns (the row-by-row activation) as into contiguous matrices
// (one activation call), in both precisions.
func TestForwardIntoStridedViews(t *testing.T) {
	t.Run("f64", func(t *testing.T) { forwardIntoStridedViews[float64](t) })
	t.Run("f32", func(t *testing.T) { forwardIntoStridedViews[float32](t) })
}

func forwardIntoStridedViews[T tensor.Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 32))
	for _, act := range []Activation{Identity, Tanh, ReLU, Sigmoid} {
		d, err := NewDense[T](13, 11, act)
		require.NoError(t, err)
		d.InitPyTorch(rng)
		v := tensor.New[T](5, 13, nil)
		for i := range v.Data {
			v.Data[i] = T(2*rng.Float64() - 1)
		}
		out, deriv := tensor.New[T](5, 11, nil), tensor.New[T](5, 11, nil)
		d.Forward(out, deriv, v)
		wide := func() *tensor.Matrix[T] {
			m := tensor.New[T](5, 16, nil)
			return &tensor.Matrix[T]{Rows: 5, Cols: 11, Stride: 16, Data: m.Data}
		}
		so, sd := wide(), wide()
		d.Forward(so, sd, v)
		for i := range 5 {
			require.Equal(t, out.Row(i), so.Row(i), "%v output row %d", act, i)
			require.Equal(t, deriv.Row(i), sd.Row(i), "%v derivative row %d", act, i)
		}
		d.Forward(so, nil, v)
		for i := range 5 {
			require.Equal(t, out.Row(i), so.Row(i), "%v output row %d without derivative", act, i)
		}
	}
}

// TestFirstNonFinite plants a NaN or an infinity at several positions, in both
// precisions, and checks the index, the first of two where there are two.
func TestFirstNonFinite(t *testing.T) {
	for _, c := range []struct {
		n, at, second int
		bad           float64
	}{
		{0, -1, -1, 0}, {5, -1, -1, 0}, {40, -1, -1, 0},
		{1, 0, -1, math.NaN()}, {40, 17, -1, math.Inf(1)}, {40, 39, -1, math.Inf(-1)},
		{40, 3, 33, math.NaN()}, {16, 15, -1, math.NaN()},
	} {
		v := make([]float64, c.n)
		v32 := make([]float32, c.n)
		for i := range v {
			v[i], v32[i] = float64(i)*1e30, float32(i)*1e30
		}
		for _, i := range []int{c.at, c.second} {
			if i >= 0 {
				v[i], v32[i] = c.bad, float32(c.bad)
			}
		}
		require.Equal(t, c.at, FirstNonFinite(v), "%+v", c)
		require.Equal(t, c.at, FirstNonFinite(v32), "%+v float32", c)
	}
}
