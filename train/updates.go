package train

import (
	"context"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// BackpropUpdates returns backprop's gradients dE/dtheta on one batch at layers, the
// same negated (PC's sign: the update a negative-gradient estimate is compared with),
// and the loss.
func BackpropUpdates[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, x *tensor.Matrix[T], labels []int) (grads, updates []*layer.Grad[T], value float64, err error) {
	return BackpropUpdatesOn(chainOf(layers), layer.AsMaps(layers), loss, x, labels)
}

// BackpropUpdatesOn is BackpropUpdates on the maps of the layer graph g.
func BackpropUpdatesOn[T tensor.Float](g *graph.Graph, maps []layer.Map[T], loss layer.Loss, x *tensor.Matrix[T], labels []int) (grads, updates []*layer.Grad[T], value float64, err error) {
	bp, err := newBPNet(g, maps, loss)
	if err != nil {
		return nil, nil, 0, err
	}
	grads = make([]*layer.Grad[T], len(maps))
	updates = make([]*layer.Grad[T], len(maps))
	for l, m := range maps {
		grads[l], updates[l] = layer.GradFor(m), layer.GradFor(m)
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
	return inferUpdates(ctx, net, layer.AsMaps(layers), x, labels)
}

// InferUpdatesOn is InferUpdates on the maps of the layer graph g (pcnet.NewGraph).
func InferUpdatesOn[T tensor.Float](ctx context.Context, g *graph.Graph, maps []layer.Map[T], cfg pcnet.Config, x *tensor.Matrix[T], labels []int) ([]*layer.Grad[T], error) {
	net, err := pcnet.NewGraph(ctx, g, maps, cfg)
	if err != nil {
		return nil, err
	}
	return inferUpdates(ctx, net, maps, x, labels)
}

// inferUpdates runs one inference on net, whose maps are maps, returns copies of its
// weight updates and closes it.
func inferUpdates[T tensor.Float](ctx context.Context, net *pcnet.Network[T], maps []layer.Map[T], x *tensor.Matrix[T], labels []int) ([]*layer.Grad[T], error) {
	defer net.Close()
	if _, err := net.Infer(ctx, x, labels); err != nil {
		return nil, err
	}
	out := make([]*layer.Grad[T], len(maps))
	for l, u := range net.Updates() {
		out[l] = layer.GradFor(maps[l])
		out[l].CopyFrom(u)
	}
	return out, net.Close()
}
