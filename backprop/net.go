package backprop

import (
	"fmt"

	"github.com/pcnet/pcnet/layer"
	"gonum.org/v1/gonum/mat"
)

// Net is a feed-forward network of dense layers trained by backpropagation.
type Net struct {
	Layers []*layer.Dense
	Loss   layer.Loss

	work map[int]*workspace // by batch size
}

// workspace holds the activations and cotangents of one batch size.
type workspace struct {
	mu    []*mat.Dense // mu[l] is node l's value, l = 1..H+1 (mu[0] unused: the input)
	deriv []*mat.Dense // deriv[l] = g_l'(a_l), shaped like mu[l+1]
	cot   []*mat.Dense // cot[l+1] = dE/dmu_{l+1} (l+1 = 1..H+1)
	delta []*mat.Dense // delta[l] = deriv[l] ⊙ cot[l+1]
}

// New wraps layers (layer l maps node l to node l+1) into a Net with loss. The layers are
// used, not copied.
func New(layers []*layer.Dense, loss layer.Loss) (*Net, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("backprop: a network needs at least one layer")
	}
	for l := 1; l < len(layers); l++ {
		if layers[l].In() != layers[l-1].Out() {
			return nil, fmt.Errorf("backprop: layer %d has %d inputs but layer %d has %d outputs", l, layers[l].In(), l-1, layers[l-1].Out())
		}
	}
	return &Net{Layers: layers, Loss: loss, work: map[int]*workspace{}}, nil
}

func (n *Net) workspace(batch int) *workspace {
	if w, ok := n.work[batch]; ok {
		return w
	}
	L := len(n.Layers)
	w := &workspace{
		mu: make([]*mat.Dense, L+1), deriv: make([]*mat.Dense, L),
		cot: make([]*mat.Dense, L+1), delta: make([]*mat.Dense, L),
	}
	for l, d := range n.Layers {
		w.mu[l+1] = mat.NewDense(batch, d.Out(), nil)
		w.deriv[l] = mat.NewDense(batch, d.Out(), nil)
		w.cot[l+1] = mat.NewDense(batch, d.Out(), nil)
		w.delta[l] = mat.NewDense(batch, d.Out(), nil)
	}
	n.work[batch] = w
	return w
}

func (n *Net) checkInput(x *mat.Dense, labels []int) {
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
func (n *Net) Forward(x *mat.Dense) *mat.Dense {
	n.checkInput(x, nil)
	r, _ := x.Dims()
	w := n.workspace(r)
	n.forward(w, x)
	return w.mu[len(n.Layers)]
}

func (n *Net) forward(w *workspace, x *mat.Dense) {
	in := x
	for l, d := range n.Layers {
		d.Forward(w.mu[l+1], w.deriv[l], in)
		in = w.mu[l+1]
	}
}

// Gradients runs one forward and one backward wave and writes dE/dW_l and dE/db_l into
// grads[l]. It returns the loss E at the current weights.
func (n *Net) Gradients(grads []*layer.Grad, x *mat.Dense, labels []int) float64 {
	n.checkInput(x, labels)
	if len(grads) != len(n.Layers) {
		panic(fmt.Sprintf("backprop: %d gradients for %d layers", len(grads), len(n.Layers)))
	}
	r, _ := x.Dims()
	w := n.workspace(r)
	n.forward(w, x)
	L := len(n.Layers)
	loss := n.Loss.Value(w.mu[L], labels)
	// The loss gives -dE/dz (the PC output error); BP keeps the gradient's own sign.
	n.Loss.NegGrad(w.cot[L], w.mu[L], labels)
	for i, v := range w.cot[L].RawMatrix().Data {
		w.cot[L].RawMatrix().Data[i] = -v
	}
	for l := L - 1; l >= 0; l-- {
		d := n.Layers[l]
		layer.Gate(w.delta[l], w.deriv[l], w.cot[l+1])
		in := x
		if l > 0 {
			in = w.mu[l]
			d.InputVJP(w.cot[l], w.delta[l])
		}
		d.WeightVJP(grads[l].W, grads[l].B, in, w.delta[l])
	}
	return loss
}

// Evaluate returns the mean loss and the number of correct predictions of the network on
// x, computed in chunks of at most chunk rows.
func (n *Net) Evaluate(x *mat.Dense, labels []int, chunk int) (loss float64, correct int) {
	rows, cols := x.Dims()
	n.checkInput(x, labels)
	if chunk < 1 {
		chunk = rows
	}
	var sum float64
	for i := 0; i < rows; i += chunk {
		m := min(chunk, rows-i)
		xb := x.Slice(i, i+m, 0, cols).(*mat.Dense)
		z := n.Forward(xb)
		sum += n.Loss.Value(z, labels[i:i+m]) * float64(m)
		correct += layer.Correct(z, labels[i:i+m])
	}
	return sum / float64(rows), correct
}
