package backprop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// f32Problem is a float64 network and batch and the same rounded to float32: the float64
// network starts from the rounded weights and data, so that the two differ only in the
// precision of their arithmetic.
func f32Problem(t *testing.T, sizes []int, act layer.Activation, batch int, seed uint64) ([]*layer.Dense[float64], []*layer.Dense[float32], *tensor.Matrix[float64], *tensor.Matrix[float32], []int) {
	rng := rand.New(rand.NewPCG(seed, 32))
	l32, err := layer.NewMLP[float32](sizes, act, rng)
	require.NoError(t, err)
	l64 := make([]*layer.Dense[float64], len(l32))
	for l, d := range l32 {
		l64[l], err = layer.NewDense[float64](d.In(), d.Out(), d.Act)
		require.NoError(t, err)
		tensor.Convert(l64[l].W, d.W)
		tensor.ConvertSlice(l64[l].B, d.B)
	}
	x64, y := randBatch(rng, batch, sizes[0], sizes[len(sizes)-1])
	x32 := tensor.New[float32](batch, sizes[0], nil)
	tensor.Convert(x32, x64)
	tensor.Convert(x64, x32)
	return l64, l32, x64, x32, y
}

func gradients[T tensor.Float](t *testing.T, layers []*layer.Dense[T], loss layer.Loss, x *tensor.Matrix[T], y []int) ([]*layer.Grad[T], float64) {
	net, err := New(layers, loss)
	require.NoError(t, err)
	grads := make([]*layer.Grad[T], len(layers))
	for l, d := range layers {
		grads[l] = layer.NewGrad(d)
	}
	e := net.Gradients(grads, x, y)
	return grads, e
}

// TestFloat32GradientsAreFloat64Rounded: a float32 BP step equals the float64 step of
// the same network to float32's precision: a relative error per tensor below 1e-5 (the
// measured errors are near 1e-7; computing in float64 throughout would give 0, which
// the test refuses too, and a wrong formula would give errors near 1).
func TestFloat32GradientsAreFloat64Rounded(t *testing.T) {
	for _, tc := range []struct {
		sizes []int
		act   layer.Activation
		loss  layer.Loss
	}{
		{[]int{784, 64, 64, 10}, layer.Tanh, layer.NLL{}},
		{[]int{30, 20, 20, 20, 5}, layer.Sigmoid, layer.SquaredError{}},
		{[]int{50, 40, 10}, layer.ReLU, layer.NLL{}},
	} {
		t.Run(fmt.Sprintf("%v-%v-%s", tc.sizes, tc.act, tc.loss.Name()), func(t *testing.T) {
			l64, l32, x64, x32, y := f32Problem(t, tc.sizes, tc.act, 16, 3)
			g64, e64 := gradients(t, l64, tc.loss, x64, y)
			g32, e32 := gradients(t, l32, tc.loss, x32, y)
			require.InEpsilon(t, e64, e32, 1e-5, "loss")
			for l := range g64 {
				for k, want := range g64[l].Params() {
					got := g32[l].Params()[k]
					var d2, w2 float64
					exact := true
					for i, w := range want {
						d := float64(got[i]) - w
						d2, w2 = d2+d*d, w2+w*w
						exact = exact && float64(got[i]) == w
					}
					require.Less(t, math.Sqrt(d2/w2), 1e-5, "layer %d tensor %d", l, k)
					require.False(t, exact, "layer %d tensor %d: float32 arithmetic rounds somewhere", l, k)
				}
			}
		})
	}
}

// TestFloat32GradientsAtEveryGOMAXPROCS: the products are cut into tiles by their shapes
// alone, so a float32 BP step is the same bit for bit on 1, 2 and 3 cores, as a float64
// one is (the widths make products large enough to be split).
func TestFloat32GradientsAtEveryGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	_, l32, _, x32, y := f32Problem(t, []int{784, 512, 512, 10}, layer.Tanh, 64, 4)
	var want [][]float32
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		grads, _ := gradients(t, layer.CloneAll(l32), layer.NLL{}, x32, y)
		var got [][]float32
		for _, g := range grads {
			for _, p := range g.Params() {
				got = append(got, p)
			}
		}
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			for j := range want[i] {
				if math.Float32bits(want[i][j]) != math.Float32bits(got[i][j]) {
					t.Fatalf("GOMAXPROCS=%d: tensor %d element %d is %v, on one core %v", procs, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}

func TestFloat32GradientsDoNotAllocate(t *testing.T) {
	_, l32, _, x32, y := f32Problem(t, []int{784, 64, 64, 10}, layer.Tanh, 64, 5)
	net, _ := New(l32, layer.NLL{})
	grads := make([]*layer.Grad[float32], len(l32))
	for l, d := range l32 {
		grads[l] = layer.NewGrad(d)
	}
	net.Gradients(grads, x32, y)
	require.Zero(t, testing.AllocsPerRun(5, func() { net.Gradients(grads, x32, y) }))
}
