package backprop

import (
	"fmt"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// Net is a feed-forward network of dense layers trained by backpropagation, in
// precision T.
type Net[T tensor.Float] struct {
	Layers []*layer.Dense[T]
	Loss   layer.Loss

	work map[int]*workspace[T] // by batch size
}

// workspace holds the activations and cotangents of one batch size.
type workspace[T tensor.Float] struct {
	mu    []*tensor.Matrix[T] // mu[l] is node l's value, l = 1..H+1 (mu[0] unused: the input)
	deriv []*tensor.Matrix[T] // deriv[l] = g_l'(a_l), shaped like mu[l+1]
	cot   []*tensor.Matrix[T] // cot[l+1] = dE/dmu_{l+1} (l+1 = 1..H+1)
	delta []*tensor.Matrix[T] // delta[l] = deriv[l] ⊙ cot[l+1]
	fuse  layer.Fusion[T]     // the scratch of the layers' fused products, one at a time
}

// New wraps layers (layer l maps node l to node l+1) into a Net with loss. The layers are
// used, not copied.
func New[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss) (*Net[T], error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("backprop: a network needs at least one layer")
	}
	for l := 1; l < len(layers); l++ {
		if layers[l].In() != layers[l-1].Out() {
			return nil, fmt.Errorf("backprop: layer %d has %d inputs but layer %d has %d outputs", l, layers[l].In(), l-1, layers[l-1].Out())
		}
	}
	return &Net[T]{Layers: layers, Loss: loss, work: map[int]*workspace[T]{}}, nil
}

func (n *Net[T]) workspace(batch int) *workspace[T] {
	if w, ok := n.work[batch]; ok {
		return w
	}
	L := len(n.Layers)
	w := &workspace[T]{
		mu: make([]*tensor.Matrix[T], L+1), deriv: make([]*tensor.Matrix[T], L),
		cot: make([]*tensor.Matrix[T], L+1), delta: make([]*tensor.Matrix[T], L),
	}
	for l, d := range n.Layers {
		w.mu[l+1] = tensor.New[T](batch, d.Out(), nil)
		w.deriv[l] = tensor.New[T](batch, d.Out(), nil)
		w.cot[l+1] = tensor.New[T](batch, d.Out(), nil)
		w.delta[l] = tensor.New[T](batch, d.Out(), nil)
	}
	n.work[batch] = w
	return w
}

func (n *Net[T]) checkInput(x *tensor.Matrix[T], labels []int) {
	r, c := x.Dims()
	if c != n.Layers[0].In() {
		panic(&layer.ShapeError{Op: "backprop.Net", What: "input", Got: [2]int{r, c}, Want: [2]int{r, n.Layers[0].In()}})
	}
	if labels != nil && len(labels) != r {
		panic(&layer.ShapeError{Op: "backprop.Net", What: "labels", Got: [2]int{len(labels), 1}, Want: [2]int{r, 1}})
	}
}

// Forward runs the network on x (B x In) and returns the logits. The result is owned by
// the Net and valid until its next call.
func (n *Net[T]) Forward(x *tensor.Matrix[T]) *tensor.Matrix[T] {
	n.checkInput(x, nil)
	r, _ := x.Dims()
	w := n.workspace(r)
	n.forward(w, x)
	return w.mu[len(n.Layers)]
}

func (n *Net[T]) forward(w *workspace[T], x *tensor.Matrix[T]) {
	in := x
	for l, d := range n.Layers {
		d.ForwardFused(&w.fuse, w.mu[l+1], w.deriv[l], in)
		in = w.mu[l+1]
	}
}

// Gradients runs one forward and one backward wave and writes dE/dW_l and dE/db_l into
// grads[l]. It returns the loss E at the current weights. Under a per-sample loss the
// cotangents carry no 1/B and the gradients take it at the end (layer.UpdateScale), as
// GraphNet's do.
func (n *Net[T]) Gradients(grads []*layer.Grad[T], x *tensor.Matrix[T], labels []int) float64 {
	return n.GradientsEach(grads, x, labels, nil)
}

// GradientsEach is Gradients that calls done(l), when done is not nil, as soon as
// grads[l] is final, from the last layer down to the first. By then the call has read
// layer l's parameters for the last time, so done may update them: an optimiser step
// there streams dE/dW_l while the backward wave has just written it, instead of after the
// whole wave (docs/design.md §6: the same arithmetic per element, so the same bits).
func (n *Net[T]) GradientsEach(grads []*layer.Grad[T], x *tensor.Matrix[T], labels []int, done func(l int)) float64 {
	n.checkInput(x, labels)
	if len(grads) != len(n.Layers) {
		panic(fmt.Sprintf("backprop: %d gradients for %d layers", len(grads), len(n.Layers)))
	}
	r, _ := x.Dims()
	w := n.workspace(r)
	n.forward(w, x)
	L := len(n.Layers)
	loss := layer.LossValue(n.Loss, w.mu[L], labels)
	// The loss gives -dE/dz (the PC output error); BP keeps the gradient's own sign.
	layer.NegGrad(n.Loss, w.cot[L], w.mu[L], labels)
	for i, v := range w.cot[L].Data {
		w.cot[L].Data[i] = -v
	}
	s := layer.UpdateScale(n.Loss, r)
	layer.Gate(w.delta[L-1], w.deriv[L-1], w.cot[L])
	for l := L - 1; l >= 0; l-- {
		// One batch for both VJPs of layer l, which gates the cotangent of layer l-1 as
		// the input VJP finishes its blocks (layer.Dense.VJPs).
		var in, dst, gated, deriv *tensor.Matrix[T] = x, nil, nil, nil
		if l > 0 {
			in, dst, gated, deriv = w.mu[l], w.cot[l], w.delta[l-1], w.deriv[l-1]
		}
		n.Layers[l].VJPs(&w.fuse, dst, grads[l].W, grads[l].B, in, w.delta[l], gated, deriv)
		if s != 1 {
			grads[l].Scale(s) // elementwise: the same bits layer by layer as after the wave
		}
		if done != nil {
			done(l)
		}
	}
	return loss
}

// Evaluate returns the mean loss and the number of correct predictions of the network on
// x, computed in chunks of at most chunk rows.
func (n *Net[T]) Evaluate(x *tensor.Matrix[T], labels []int, chunk int) (loss float64, correct int) {
	n.checkInput(x, labels)
	return evaluate(n.Forward, n.Loss, x, labels, chunk)
}

// evaluate is Evaluate of a network whose forward pass is forward, once its input is
// checked: the chunks' losses weighted by their rows, and the correct predictions.
func evaluate[T tensor.Float](forward func(*tensor.Matrix[T]) *tensor.Matrix[T], loss layer.Loss, x *tensor.Matrix[T], labels []int, chunk int) (float64, int) {
	rows := x.Rows
	if chunk < 1 {
		chunk = rows
	}
	var sum float64
	correct := 0
	for i := 0; i < rows; i += chunk {
		m := min(chunk, rows-i)
		z := forward(x.SliceRows(i, i+m))
		sum += layer.LossValue(loss, z, labels[i:i+m]) * float64(m)
		correct += layer.Correct(z, labels[i:i+m])
	}
	return sum / float64(rows), correct
}
