package layer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// TestFusedProductsGiveTheUnfusedBits checks ForwardFused against Forward, and VJPs against
// InputVJP, WeightVJP and Gate, bit for bit, in both precisions, for every activation and
// kernel, at GOMAXPROCS 1, 2 and 3: at 1 the products run whole and the fused step runs
// once on all of C; at 2 and 3 they run as tiles, with edge tiles (1000 columns), and the
// step runs tile by tile.
func TestFusedProductsGiveTheUnfusedBits(t *testing.T) {
	testFused[float64](t)
	testFused[float32](t)
}

func testFused[T tensor.Float](t *testing.T) {
	const batch, in, out = 64, 784, 1000
	rng := rand.New(rand.NewPCG(31, 1))
	mat := func(r, c int) *tensor.Matrix[T] {
		m := tensor.New[T](r, c, nil)
		for i := range m.Data {
			m.Data[i] = T(rng.NormFloat64())
		}
		return m
	}
	v, delta, derivBelow := mat(batch, in), mat(batch, out), mat(batch, in)
	var f Fusion[T]
	for _, act := range []Activation{Tanh, Sigmoid, ReLU, Identity} {
		d, err := NewDense[T](in, out, act)
		require.NoError(t, err)
		d.InitPyTorch(rng)
		// Unfused, whole, on one core: the reference.
		y, deriv := tensor.New[T](batch, out, nil), tensor.New[T](batch, out, nil)
		dst, gated, g := tensor.New[T](batch, in, nil), tensor.New[T](batch, in, nil), NewGrad(d)
		withProcs(1, func() {
			d.Forward(y, deriv, v)
			d.InputVJP(dst, delta)
			d.WeightVJP(g.W, g.B, v, delta)
			Gate(gated, derivBelow, dst)
		})
		for _, k := range availableKernels() {
			for _, procs := range []int{1, 2, 3} {
				name := fmt.Sprintf("%T %v kernel %v GOMAXPROCS %d", T(0), act, k, procs)
				withKernel(t, k, func() {
					withProcs(procs, func() {
						y2, deriv2 := tensor.New[T](batch, out, nil), tensor.New[T](batch, out, nil)
						d.ForwardFused(&f, y2, deriv2, v)
						dst2, gated2, g2 := tensor.New[T](batch, in, nil), tensor.New[T](batch, in, nil), NewGrad(d)
						d.VJPs(&f, dst2, g2.W, g2.B, v, delta, gated2, derivBelow)
						g3 := NewGrad(d)
						d.VJPs(&f, nil, g3.W, g3.B, v, delta, nil, nil) // a first layer: no input VJP
						dst4, g4 := tensor.New[T](batch, in, nil), NewGrad(d)
						d.VJPs(nil, dst4, g4.W, g4.B, v, delta, nil, nil) // nothing to gate: no scratch
						if k != KernelSIMD {
							// Another kernel rounds differently: only the fused step's bits are
							// compared, against the same kernel's products unfused.
							d.Forward(y, deriv, v)
							d.InputVJP(dst, delta)
							d.WeightVJP(g.W, g.B, v, delta)
							Gate(gated, derivBelow, dst)
						}
						require.Equal(t, y.Data, y2.Data, "%s: forward", name)
						require.Equal(t, deriv.Data, deriv2.Data, "%s: derivative", name)
						require.Equal(t, dst.Data, dst2.Data, "%s: input VJP", name)
						require.Equal(t, gated.Data, gated2.Data, "%s: gated cotangent below", name)
						require.Equal(t, g.W.Data, g2.W.Data, "%s: weight VJP", name)
						require.Equal(t, g.B, g2.B, "%s: bias VJP", name)
						require.Equal(t, g.W.Data, g3.W.Data, "%s: weight VJP alone", name)
						require.Equal(t, g.B, g3.B, "%s: bias VJP alone", name)
						require.Equal(t, dst.Data, dst4.Data, "%s: input VJP, ungated", name)
						require.Equal(t, g.W.Data, g4.W.Data, "%s: weight VJP beside the ungated input VJP", name)
					})
				})
			}
		}
	}
}

// withProcs runs f at GOMAXPROCS n and restores the setting.
func withProcs(n int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	f()
}
