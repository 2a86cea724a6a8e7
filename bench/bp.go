package bench

import (
	"fmt"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// BP is a backpropagation learner in precision T: train.BP's step (forward, backward, one
// optimiser step per tensor, the same calls in the same order) on the generic types, so
// that the float32 benchmarks time what the float64 ones do. train is float64 only for
// now; BP[float64] gives train.BP's numbers bit for bit (TestBPMatchesTrain).
type BP[T tensor.Float] struct {
	net   *backprop.Net[T]
	grads []*layer.Grad[T]
	opt   [][2]*optim.State[T]
}

// NewBP wraps layers (used, not copied) with loss and the optimiser opt.
func NewBP[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, opt optim.Config) (*BP[T], error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := backprop.New(layers, loss)
	if err != nil {
		return nil, err
	}
	b := &BP[T]{net: net}
	for _, d := range layers {
		b.grads = append(b.grads, layer.NewGrad(d))
		p := d.Params()
		b.opt = append(b.opt, [2]*optim.State[T]{optim.NewState[T](opt, len(p[0])), optim.NewState[T](opt, len(p[1]))})
	}
	return b, nil
}

// Step runs forward and backward on one batch and one optimiser step per tensor, and
// returns the loss before the step.
func (b *BP[T]) Step(x *tensor.Matrix[T], labels []int) float64 {
	loss := b.net.Gradients(b.grads, x, labels)
	for l, d := range b.net.Layers {
		p, g := d.Params(), b.grads[l].Params()
		b.opt[l][0].Step(p[0], g[0])
		b.opt[l][1].Step(p[1], g[1])
	}
	return loss
}

// Layers returns the weights.
func (b *BP[T]) Layers() []*layer.Dense[T] { return b.net.Layers }
