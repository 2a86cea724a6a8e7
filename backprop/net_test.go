package backprop

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
)

func randBatch(rng *rand.Rand, batch, in, classes int) (*tensor.Matrix[float64], []int) {
	x := tensor.New[float64](batch, in, nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(classes)
	}
	return x, y
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		act   layer.Activation
		loss  layer.Loss
	}{
		{"tanh-nll-3hidden", []int{6, 5, 7, 4, 3}, layer.Tanh, layer.NLL{}},
		{"sigmoid-mse-3hidden", []int{6, 5, 7, 4, 3}, layer.Sigmoid, layer.SquaredError{}},
		{"no-hidden", []int{6, 3}, layer.Tanh, layer.NLL{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 0))
			layers, err := layer.NewMLP[float64](tc.sizes, tc.act, rng)
			require.NoError(t, err)
			net, err := New(layers, tc.loss)
			require.NoError(t, err)
			x, y := randBatch(rng, 5, tc.sizes[0], tc.sizes[len(tc.sizes)-1])
			grads := make([]*layer.Grad[float64], len(layers))
			for l, d := range layers {
				grads[l] = layer.NewGrad(d)
			}
			net.Gradients(grads, x, y)
			loss := func() float64 { return layer.LossValue(net.Loss, net.Forward(x), y) }
			for l, d := range layers {
				for i, p := range d.Params() {
					const h = 1e-6
					fd := make([]float64, len(p))
					for j := range p {
						old := p[j]
						p[j] = old + h
						fp := loss()
						p[j] = old - h
						fm := loss()
						p[j] = old
						fd[j] = (fp - fm) / (2 * h)
					}
					got := grads[l].Params()[i]
					diff := make([]float64, len(fd))
					floats.SubTo(diff, got, fd)
					require.Less(t, floats.Norm(diff, 2)/floats.Norm(fd, 2), 1e-6, "layer %d param %d", l, i)
				}
			}
		})
	}
}

func TestNewRejectsMismatchedLayers(t *testing.T) {
	a, _ := layer.NewDense[float64](4, 3, layer.Tanh)
	b, _ := layer.NewDense[float64](5, 2, layer.Identity)
	_, err := New([]*layer.Dense[float64]{a, b}, layer.NLL{})
	require.EqualError(t, err, "backprop: layer 1 has 5 inputs but layer 0 has 3 outputs")
}

func TestGradientsDoNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 0))
	layers, _ := layer.NewMLP[float64]([]int{784, 64, 64, 10}, layer.Tanh, rng)
	net, _ := New(layers, layer.NLL{})
	x, y := randBatch(rng, 64, 784, 10)
	grads := make([]*layer.Grad[float64], len(layers))
	for l, d := range layers {
		grads[l] = layer.NewGrad(d)
	}
	net.Gradients(grads, x, y) // warm-up allocates the workspace
	require.Zero(t, testing.AllocsPerRun(5, func() { net.Gradients(grads, x, y) }))
}

func ExampleNet_Gradients() {
	rng := rand.New(rand.NewPCG(1, 0))
	layers, _ := layer.NewMLP[float64]([]int{4, 3, 2}, layer.Tanh, rng)
	net, _ := New(layers, layer.NLL{})
	x := tensor.New[float64](2, 4, []float64{0, 1, 0, 1, 1, 0, 1, 0})
	grads := []*layer.Grad[float64]{layer.NewGrad(layers[0]), layer.NewGrad(layers[1])}
	loss := net.Gradients(grads, x, []int{0, 1})
	r, c := grads[0].W.Dims()
	fmt.Printf("loss > 0: %v, grad W_0 is %dx%d\n", loss > 0, r, c)
	// Output:
	// loss > 0: true, grad W_0 is 3x4
}

// GradientsEach hands each layer over from the last down to the first, once its gradient
// is final and its parameters are read no more: a step taken in done, here a scribble over
// every parameter, leaves the gradients of Gradients bit for bit, under a loss with and
// one without the 1/B scale.
func TestGradientsEachHandsOverFinishedLayers(t *testing.T) {
	for _, loss := range []layer.Loss{layer.NLL{}, layer.SquaredError{}} {
		t.Run(fmt.Sprintf("%T", loss), func(t *testing.T) {
			sizes := []int{6, 5, 7, 4, 3}
			grads := func(each bool) ([]*layer.Grad[float64], []int) {
				rng := rand.New(rand.NewPCG(5, 0))
				layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
				require.NoError(t, err)
				net, err := New(layers, loss)
				require.NoError(t, err)
				x, y := randBatch(rng, 5, sizes[0], sizes[len(sizes)-1])
				g := make([]*layer.Grad[float64], len(layers))
				for l, d := range layers {
					g[l] = layer.NewGrad(d)
				}
				var order []int
				if !each {
					net.Gradients(g, x, y)
					return g, nil
				}
				net.GradientsEach(g, x, y, func(l int) {
					order = append(order, l)
					for _, p := range layers[l].Params() {
						for i := range p {
							p[i] = 1e3
						}
					}
				})
				return g, order
			}
			want, _ := grads(false)
			got, order := grads(true)
			require.Equal(t, []int{3, 2, 1, 0}, order)
			for l := range want {
				require.Equal(t, want[l].Params(), got[l].Params(), "layer %d", l)
			}
		})
	}
}
