package train

import (
	"context"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// BackpropUpdates returns backprop's gradients dE/dtheta on one batch at layers, the
// same negated (PC's sign: the update a negative-gradient estimate is compared with),
// and the loss.
func BackpropUpdates[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, x *tensor.Matrix[T], labels []int) (grads, updates []*layer.Grad[T], value float64, err error) {
	bp, err := backprop.New(layers, loss)
	if err != nil {
		return nil, nil, 0, err
	}
	grads = make([]*layer.Grad[T], len(layers))
	updates = make([]*layer.Grad[T], len(layers))
	for l, d := range layers {
		grads[l], updates[l] = layer.NewGrad(d), layer.NewGrad(d)
	}
	value = bp.Gradients(grads, x, labels)
	for l := range grads {
		updates[l].CopyFrom(grads[l])
		updates[l].Scale(-1)
	}
	return grads, updates, value, nil
}

// InferUpdates runs one inference of a PC network of cfg on layers (their weights stay)
// and returns copies of its weight updates.
func InferUpdates[T tensor.Float](ctx context.Context, layers []*layer.Dense[T], cfg pcnet.Config, x *tensor.Matrix[T], labels []int) ([]*layer.Grad[T], error) {
	net, err := pcnet.New(ctx, layers, cfg)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	if _, err := net.Infer(ctx, x, labels); err != nil {
		return nil, err
	}
	out := make([]*layer.Grad[T], len(layers))
	for l, u := range net.Updates() {
		out[l] = layer.NewGrad(layers[l])
		out[l].CopyFrom(u)
	}
	return out, net.Close()
}
