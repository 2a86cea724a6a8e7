package layer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/tensor"
)

// preActCases are the three kinds of §11 layer, with and without a multiplier, under every
// activation the hidden layers can take.
var preActCases = []struct {
	name    string
	in, out int
	act     Activation
	scale   float64
	skip    bool
}{
	{"first", 7, 4, Identity, 1 / math.Sqrt(7), false},
	{"hidden-tanh", 5, 5, Tanh, 1 / math.Sqrt(5*3), true},
	{"hidden-relu", 5, 5, ReLU, 0.3, true},
	{"hidden-sigmoid-standard", 5, 5, Sigmoid, 1, true},
	{"readout-relu", 6, 3, ReLU, 1.0 / 6, false},
	{"readout-tanh-standard", 6, 3, Tanh, 1, false},
}

func newPreActCase(t *testing.T, rng *rand.Rand, in, out int, act Activation, scale float64, skip bool) *PreAct[float64] {
	t.Helper()
	p, err := NewPreAct[float64](in, out, act, scale, skip)
	require.NoError(t, err)
	p.InitMuPC(rng)
	return p
}

func TestPreActVJPsMatchFiniteDifferences(t *testing.T) {
	for k, tc := range preActCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(k)))
			const batch = 5
			p := newPreActCase(t, rng, tc.in, tc.out, tc.act, tc.scale, tc.skip)
			v := randDense(rng, batch, tc.in, 1)
			c := randDense(rng, batch, tc.out, 1)

			// L = sum(c ⊙ f(v)); its gradients are exactly the VJPs with cotangent c.
			y := tensor.New[float64](batch, tc.out, nil)
			scratch := p.NewPoint(batch)
			loss := func() float64 {
				p.ForwardAt(y, scratch, v)
				s := 0.0
				for i, yi := range y.Data {
					s += yi * c.Data[i]
				}
				return s
			}
			at := p.NewPoint(batch)
			p.ForwardAt(y, at, v)
			jtc := tensor.New[float64](batch, tc.in, nil)
			p.InputVJPAt(jtc, at, c)
			g := GradFor[float64](p)
			p.WeightVJPAt(g, at, v, c)

			require.Less(t, relErr(jtc.Data, centralDiff(v.Data, loss)), 1e-6, "input VJP")
			require.Less(t, relErr(g.W.Data, centralDiff(p.W.Data, loss)), 1e-6, "weight VJP")
			require.Empty(t, g.B)
		})
	}
}

// TestPreActMatchesItsFormula checks the map against §11's formulas written as loops,
// element by element, to rounding: forward [v +] a phi(v) Wᵀ, input VJP
// c + a (c W) ⊙ phi'(v), weight VJP a cᵀ phi(v).
func TestPreActMatchesItsFormula(t *testing.T) {
	phis := map[Activation][2]func(float64) float64{
		Identity: {func(x float64) float64 { return x }, func(float64) float64 { return 1 }},
		Tanh:     {math.Tanh, func(x float64) float64 { return 1 - math.Tanh(x)*math.Tanh(x) }},
		ReLU: {func(x float64) float64 { return max(x, 0) }, func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return 0
		}},
		Sigmoid: {func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, func(x float64) float64 {
			s := 1 / (1 + math.Exp(-x))
			return s * (1 - s)
		}},
	}
	for k, tc := range preActCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(k)))
			const batch = 4
			p := newPreActCase(t, rng, tc.in, tc.out, tc.act, tc.scale, tc.skip)
			v := randDense(rng, batch, tc.in, 1)
			c := randDense(rng, batch, tc.out, 1)
			at := p.NewPoint(batch)
			y := tensor.New[float64](batch, tc.out, nil)
			p.ForwardAt(y, at, v)
			jtc := tensor.New[float64](batch, tc.in, nil)
			p.InputVJPAt(jtc, at, c)
			g := GradFor[float64](p)
			p.WeightVJPAt(g, at, v, c)

			phi, dphi := phis[tc.act][0], phis[tc.act][1]
			a := tc.scale
			for b := 0; b < batch; b++ {
				for o := 0; o < tc.out; o++ {
					s := 0.0
					for i := 0; i < tc.in; i++ {
						s += phi(v.At(b, i)) * p.W.At(o, i)
					}
					want := a * s
					if tc.skip {
						want += v.At(b, o)
					}
					require.InDelta(t, want, y.At(b, o), 1e-13, "f(v)[%d,%d]", b, o)
				}
				for i := 0; i < tc.in; i++ {
					s := 0.0
					for o := 0; o < tc.out; o++ {
						s += c.At(b, o) * p.W.At(o, i)
					}
					want := a * s * dphi(v.At(b, i))
					if tc.skip {
						want += c.At(b, i)
					}
					require.InDelta(t, want, jtc.At(b, i), 1e-13, "Jᵀc[%d,%d]", b, i)
				}
			}
			for o := 0; o < tc.out; o++ {
				for i := 0; i < tc.in; i++ {
					s := 0.0
					for b := 0; b < batch; b++ {
						s += c.At(b, o) * phi(v.At(b, i))
					}
					require.InDelta(t, a*s, g.W.At(o, i), 1e-13, "dW[%d,%d]", o, i)
				}
			}
		})
	}
}

// TestPreActWithoutScaleIsDenseWithoutBias: with the identity, multiplier 1 and no skip,
// a PreAct is a linear Dense layer with a zero bias, bit for bit, VJPs included.
func TestPreActWithoutScaleIsDenseWithoutBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 0))
	const batch, in, out = 6, 9, 5
	p := newPreActCase(t, rng, in, out, Identity, 1, false)
	d, err := NewDense[float64](in, out, Identity)
	require.NoError(t, err)
	d.W.Copy(p.W)
	v, c := randDense(rng, batch, in, 1), randDense(rng, batch, out, 1)
	for _, m := range []Map[float64]{p, d} {
		require.Equal(t, in, m.In())
		require.Equal(t, out, m.Out())
	}
	ap, ad := p.NewPoint(batch), d.NewPoint(batch)
	yp, yd := tensor.New[float64](batch, out, nil), tensor.New[float64](batch, out, nil)
	p.ForwardAt(yp, ap, v)
	d.ForwardAt(yd, ad, v)
	require.True(t, tensor.Equal(yp, yd), "forward")
	jp, jd := tensor.New[float64](batch, in, nil), tensor.New[float64](batch, in, nil)
	p.InputVJPAt(jp, ap, c)
	d.InputVJPAt(jd, ad, c)
	require.True(t, tensor.Equal(jp, jd), "input VJP")
	gp, gd := GradFor[float64](p), GradFor[float64](d)
	p.WeightVJPAt(gp, ap, v, c)
	d.WeightVJPAt(gd, ad, v, c)
	require.True(t, tensor.Equal(gp.W, gd.W), "weight VJP")
	require.Len(t, gd.B, out)
}

func TestNewPreActRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out int
		act     Activation
		scale   float64
		skip    bool
		want    string
	}{
		{"no input", 0, 3, Tanh, 1, false, "layer: pre-activation map needs at least one input and one output unit, got 0 -> 3"},
		{"unknown activation", 3, 3, Activation(9), 1, false, "layer: unknown activation 9"},
		{"zero multiplier", 3, 3, Tanh, 0, false, "layer: pre-activation multiplier 0, want a finite value > 0"},
		{"NaN multiplier", 3, 3, Tanh, math.NaN(), false, "layer: pre-activation multiplier NaN, want a finite value > 0"},
		{"infinite multiplier", 3, 3, Tanh, math.Inf(1), false, "layer: pre-activation multiplier +Inf, want a finite value > 0"},
		{"skip across widths", 3, 4, Tanh, 1, true, "layer: identity skip from 3 to 4 units, want equal widths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPreAct[float64](tc.in, tc.out, tc.act, tc.scale, tc.skip)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestPreActShapeErrors(t *testing.T) {
	p, err := NewPreAct[float64](3, 3, Tanh, 1, true)
	require.NoError(t, err)
	d, err := NewDense[float64](3, 2, Tanh)
	require.NoError(t, err)
	v, y := tensor.New[float64](4, 3, nil), tensor.New[float64](4, 3, nil)
	require.PanicsWithError(t, "layer: PreAct.ForwardAt: point is 5x3, want 4x3", func() { p.ForwardAt(y, p.NewPoint(5), v) })
	require.PanicsWithError(t, "layer: PreAct.ForwardAt: point is 4x2, want 4x3", func() { p.ForwardAt(y, d.NewPoint(4), v) })
	require.PanicsWithValue(t, "layer: PreAct.ForwardAt: the point was not made by the map's NewPoint", func() { p.ForwardAt(y, &Point[float64]{}, v) })
	lin, err := NewPreAct[float64](3, 3, Identity, 1, true)
	require.NoError(t, err)
	at := lin.NewPoint(4)
	lin.Act = ReLU
	require.PanicsWithValue(t, "layer: PreAct.ForwardAt: the point was made for the identity; make it after setting Act", func() { lin.ForwardAt(y, at, v) })
}

// TestMultipliers pins §11's multipliers, with jpc's tutorial network (D = 784, N = 128,
// L = 30) among them.
func TestMultipliers(t *testing.T) {
	for _, tc := range []struct {
		param         Param
		l, layers, in int
		want          float64
	}{
		{MuPC, 0, 30, 784, 1.0 / 28},
		{MuPC, 1, 30, 128, 1 / math.Sqrt(128*30)},
		{MuPC, 28, 30, 128, 1 / math.Sqrt(128*30)},
		{MuPC, 29, 30, 128, 1.0 / 128},
		{MuPC, 1, 2, 5, 1.0 / 5},
		{Standard, 0, 30, 784, 1},
		{Standard, 5, 30, 128, 1},
		{Standard, 29, 30, 128, 1},
	} {
		require.Equal(t, tc.want, tc.param.Multiplier(tc.l, tc.layers, tc.in), "%v layer %d of %d, in %d", tc.param, tc.l, tc.layers, tc.in)
	}
}

func TestParamNames(t *testing.T) {
	for _, p := range []Param{Standard, MuPC} {
		got, err := ParseParam(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := ParseParam("ntk")
	require.EqualError(t, err, `unknown parameterisation "ntk" (want standard or mupc)`)
	require.Equal(t, "Param(7)", Param(7).String())
}

// TestNewPreActNet checks the structure of §11's network (activation, skip and multiplier
// of each map) and its initialisation: under MuPC the weights are the rng's N(0, 1) draws
// in order, and the float32 network's are the same draws rounded.
func TestNewPreActNet(t *testing.T) {
	widths := []int{6, 4, 4, 4, 3}
	for _, tc := range []struct {
		param    Param
		residual bool
	}{{MuPC, true}, {MuPC, false}, {Standard, true}} {
		t.Run(tc.param.String(), func(t *testing.T) {
			maps, err := NewPreActNet[float64](widths, ReLU, tc.param, tc.residual, rand.New(rand.NewPCG(5, 0)))
			require.NoError(t, err)
			maps32, err := NewPreActNet[float32](widths, ReLU, tc.param, tc.residual, rand.New(rand.NewPCG(5, 0)))
			require.NoError(t, err)
			require.Len(t, maps, 4)
			draws := rand.New(rand.NewPCG(5, 0))
			for l, m := range maps {
				wantAct, wantSkip := ReLU, tc.residual && l > 0 && l < 3
				if l == 0 {
					wantAct = Identity
				}
				require.Equal(t, wantAct, m.Act, "map %d", l)
				require.Equal(t, wantSkip, m.Skip, "map %d", l)
				require.Equal(t, tc.param.Multiplier(l, 4, widths[l]), m.Scale, "map %d", l)
				require.Equal(t, [2]int{widths[l+1], widths[l]}, [2]int{m.Out(), m.In()})
				for i, w := range m.W.Data {
					if tc.param == MuPC {
						require.Equal(t, draws.NormFloat64(), w, "map %d weight %d", l, i)
					} else {
						require.LessOrEqual(t, math.Abs(w), 1/math.Sqrt(float64(widths[l])))
					}
					require.Equal(t, float32(w), maps32[l].W.Data[i])
				}
			}
		})
	}
}

func TestNewPreActNetRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 0))
	_, err := NewPreActNet[float64]([]int{4, 3}, Tanh, MuPC, true, rng)
	require.EqualError(t, err, "layer: a pre-activation network needs an input, H >= 1 hidden and an output width, got [4 3]")
	_, err = NewPreActNet[float64]([]int{4, 3, 5, 2}, Tanh, MuPC, true, rng)
	require.EqualError(t, err, "layer 1: layer: identity skip from 3 to 5 units, want equal widths")
	_, err = NewPreActNet[float64]([]int{4, 3, 3, 2}, Tanh, Param(3), true, rng)
	require.EqualError(t, err, "layer: unknown parameterisation 3")
}

func TestPreActDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	p := newPreActCase(t, rng, 32, 32, Tanh, 0.1, true)
	v, c := randDense(rng, 16, 32, 1), randDense(rng, 16, 32, 1)
	at, y, j, g := p.NewPoint(16), tensor.New[float64](16, 32, nil), tensor.New[float64](16, 32, nil), GradFor[float64](p)
	require.Zero(t, testing.AllocsPerRun(5, func() {
		p.ForwardAt(y, at, v)
		p.InputVJPAt(j, at, c)
		p.WeightVJPAt(g, at, v, c)
	}))
}

// TestGradWithoutBias: the Grad of a map without a bias adds, copies and scales its weight
// alone.
func TestGradWithoutBias(t *testing.T) {
	p, err := NewPreAct[float64](2, 3, Tanh, 1, false)
	require.NoError(t, err)
	a, b := GradFor[float64](p), GradFor[float64](p)
	require.Empty(t, a.B)
	for i := range a.W.Data {
		a.W.Data[i], b.W.Data[i] = float64(i), 1
	}
	a.Add(b)
	a.Scale(2)
	b.CopyFrom(a)
	require.Equal(t, []float64{2, 4, 6, 8, 10, 12}, b.W.Data)
}

// TestWeightVJPAfterInputIsWeightVJPAt: after an InputVJPAt, the weight VJP that reads the
// cotangent that call left in the point equals the one that forms it again, bit for bit,
// for Dense (gated) and for every kind of PreAct (scaled, or c itself at a = 1): a map
// that read the plain c where it holds a gated or scaled one would fail.
func TestWeightVJPAfterInputIsWeightVJPAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 5))
	const batch = 6
	type mapCase struct {
		name string
		m    Map[float64]
	}
	var cases []mapCase
	for _, act := range []Activation{Tanh, ReLU, Identity} {
		d, err := NewDense[float64](5, 4, act)
		require.NoError(t, err)
		d.InitPyTorch(rng)
		cases = append(cases, mapCase{"dense-" + act.String(), d})
	}
	for _, c := range preActCases {
		cases = append(cases, mapCase{"preact-" + c.name, newPreActCase(t, rng, c.in, c.out, c.act, c.scale, c.skip)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			v, c := randDense(rng, batch, m.In(), 1), randDense(rng, batch, m.Out(), 1)
			at := m.NewPoint(batch)
			m.ForwardAt(tensor.New[float64](batch, m.Out(), nil), at, v)
			m.InputVJPAt(tensor.New[float64](batch, m.In(), nil), at, c)
			want := GradFor(m)
			m.WeightVJPAt(want, at, v, c)
			got := GradFor(m)
			m.WeightVJPAfterInput(got, at, v, c)
			require.True(t, tensor.Equal(want.W, got.W), "weight")
			require.Equal(t, want.B, got.B, "bias")
		})
	}
}
