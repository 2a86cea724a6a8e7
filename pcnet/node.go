package pcnet

import (
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"gonum.org/v1/gonum/mat"
)

// role is a node's place in the chain.
type role int

const (
	inputRole  role = iota + 1 // node 0: clamped to the data, owns theta_0
	hiddenRole                 // nodes 1..H: latent, own theta_l
	outputRole                 // node H+1: owns the labels and the loss, no weights
)

// node is the deterministic core of one node: all of its state and all of its arithmetic,
// with no goroutines, channels or clocks. Both engines drive the same cores through the
// same phases (begin, feedForward, then per step formError, absorb and integrate) in the
// same order per node, which is why they agree bit for bit. In the manner of etcd's
// RawNode, the actor in parallel.go is a thin shell that moves messages between phases.
type node struct {
	l, h  int
	role  role
	width int // n_l
	cfg   *Config
	pi    float64 // pi_l: the precision this node's error is sent down with
	gamma float64 // the step size of its state or error

	layer *layer.Dense    // theta_l (input and hidden nodes)
	grad  *layer.Grad     // the weight update dW_l(e_{l+1}) of the last batch
	neg   *layer.Grad     // -grad: what the optimiser descends along
	opt   [2]*optim.State // weight, bias
	obs   NodeObserver

	// iPC only: step is the update of the current step (grad sums them), and learning,
	// set by Network.run before it hands the node to an engine, whether the batch learns.
	step     *layer.Grad
	learning bool

	work   map[int]*nodeWork // by batch size
	w      *nodeWork         // the current batch's
	x0     *mat.Dense        // input node: the batch
	labels []int             // output node: the batch's labels
	loss   float64           // output node: the loss at the feed-forward values
	stats  NodeStats
	// observed: max|e| and max|Δe| of the error the node will report at its next step.
	size, change float64
}

// nodeWork holds a node's buffers for one batch size, allocated once.
type nodeWork struct {
	mu, x, e *mat.Dense // B x n_l (hidden; the output node keeps e_{H+1} in e)
	deriv    *mat.Dense // B x n_{l+1}: g_l'(a_l) at the node's current point
	delta    *mat.Dense // B x n_{l+1}: the gated cotangent deriv ⊙ (pi e_{l+1})
	jte      *mat.Dense // B x n_l: J_l^T (pi_{l+1} e_{l+1})
}

// fixed reports whether the node's incoming prediction never changes after the
// feed-forward pass: under FPA, and for node 1, whose input x_0 is clamped.
// Under iPC theta_0 learns at every step, so node 1's prediction moves with it.
func (n *node) fixedPrediction() bool {
	return n.cfg.Variant.fixedPredictions() || n.l == 1 && !n.incremental()
}

// incremental reports whether the node learns at every inference step (iPC).
func (n *node) incremental() bool { return n.cfg.Variant == Incremental }

// receivesPrediction reports whether the node is sent a new prediction at step t >= 1.
func (n *node) receivesPrediction() bool { return n.role != inputRole && !n.fixedPrediction() }

// sendsPrediction reports whether the node sends a new prediction at step t >= 1.
func (n *node) sendsPrediction() bool {
	if n.incremental() {
		return n.role != outputRole
	}
	return n.role == hiddenRole && !n.cfg.Variant.fixedPredictions()
}

// begin readies the node for a batch: the buffers of its size and a zero update.
func (n *node) begin(x0 *mat.Dense, labels []int) {
	batch := len(labels)
	w, ok := n.work[batch]
	if !ok {
		w = n.newWork(batch)
		n.work[batch] = w
	}
	n.w = w
	n.x0, n.labels = x0, labels
	n.stats = NodeStats{Steps: n.cfg.Steps}
	if n.grad != nil {
		n.grad.Zero()
	}
}

func (n *node) newWork(batch int) *nodeWork {
	w := &nodeWork{}
	if n.role != inputRole {
		k := n.width
		w.e = mat.NewDense(batch, k, nil)
		if n.role == hiddenRole {
			w.mu = mat.NewDense(batch, k, nil)
			w.x = mat.NewDense(batch, k, nil)
			w.jte = mat.NewDense(batch, k, nil)
		}
	}
	if n.layer != nil {
		w.deriv = mat.NewDense(batch, n.layer.Out(), nil)
		w.delta = mat.NewDense(batch, n.layer.Out(), nil)
	}
	return w
}

// feedForward receives p_l(0) = mu_l from below (nil for the input node) and writes
// p_{l+1}(0) = mu_{l+1} = f_l(mu_l) to up (nil for the output node).
func (n *node) feedForward(below, up *mat.Dense) {
	switch n.role {
	case inputRole:
		n.layer.Forward(up, n.w.deriv, n.x0)
	case hiddenRole:
		n.w.mu.Copy(below)
		if n.cfg.Variant.fixedPredictions() {
			n.w.e.Zero()
		} else {
			n.w.x.Copy(below)
		}
		n.layer.Forward(up, n.w.deriv, n.w.mu)
	case outputRole:
		n.loss = n.cfg.Loss.Value(below, n.labels)
	}
}

// formError forms e_l(t) and writes pi_l e_l(t), the message for the node below, to down.
// below is p_l(t) when the node received one at this step, else nil.
func (n *node) formError(t int, below, down *mat.Dense) {
	w := n.w
	switch n.role {
	case outputRole:
		// e_{H+1} = -dE/dz at the current prediction; FPA keeps the feed-forward one.
		if below != nil {
			n.cfg.Loss.NegGrad(w.e, below, n.labels)
		}
	case hiddenRole:
		if !n.cfg.Variant.fixedPredictions() { // else e_l is integrated: nothing to form
			p := below
			if p == nil {
				p = w.mu
			}
			if n.obs != nil {
				n.size, n.change = layer.PredictionErrorStats(w.e, w.x, p)
			} else {
				layer.PredictionError(w.e, w.x, p)
			}
		}
		if n.obs != nil {
			if t == 0 {
				// e's old content belongs to the previous batch; e_l(0) is all the change.
				if n.cfg.Variant.fixedPredictions() {
					n.size = 0
				}
				n.change = n.size
			}
			n.obs.Step(StepStats{Step: t, ErrorMaxAbs: n.size, ChangeMaxAbs: n.change})
		}
	}
	layer.ScaleInto(down, w.e, n.pi)
}

// point returns the value the node's layer is evaluated at: x_0, mu_l under FPA, x_l(t)
// otherwise.
func (n *node) point() *mat.Dense {
	switch {
	case n.role == inputRole:
		return n.x0
	case n.cfg.Variant.fixedPredictions():
		return n.w.mu
	}
	return n.w.x
}

// absorb receives pi_{l+1} e_{l+1}(t) from above and gates it into the cotangent that
// the step's products start from. Nothing reads the message after absorb, so the actor
// hands its buffer back before the products: the node above can then send its next error
// into the same buffer, and one buffer per link suffices.
func (n *node) absorb(t int, above *mat.Dense) {
	if update, advance := n.acts(t); update || advance {
		layer.Gate(n.w.delta, n.w.deriv, above)
	}
}

// acts reports what integrate does at step t: take the weight update, advance the state.
func (n *node) acts(t int) (update, advance bool) {
	if n.incremental() {
		return t < n.cfg.Steps, n.role == hiddenRole && t < n.cfg.Steps
	}
	return t == n.updateStep(), n.role == hiddenRole && t < n.cfg.Steps
}

// integrate takes the weight update when t is its step, and for t < T advances the node's
// state to step t+1, writing the new prediction p_{l+1}(t+1) to up when the node sends
// one. absorb has gated the error of step t.
func (n *node) integrate(t int, up *mat.Dense) {
	if n.incremental() {
		n.integrateIncremental(t, up)
		return
	}
	w := n.w
	update, advance := n.acts(t)
	if !update && !advance {
		return
	}
	if update {
		n.layer.WeightVJP(n.grad.W, n.grad.B, n.point(), w.delta)
		n.stats.VJPs++
	}
	if !advance {
		return
	}
	n.layer.InputVJP(w.jte, w.delta)
	n.stats.VJPs++
	if n.cfg.Variant.fixedPredictions() {
		if n.obs != nil {
			n.size, n.change = layer.FixedPredictionErrorStepStats(w.e, w.jte, n.gamma)
		} else {
			layer.FixedPredictionErrorStep(w.e, w.jte, n.gamma)
		}
		return
	}
	layer.StateStep(w.x, w.e, w.jte, n.pi, n.gamma)
	n.layer.Forward(up, w.deriv, w.x)
}

// updateStep is the step whose values give the weight update: H-l for Z-IL, T otherwise.
func (n *node) updateStep() int {
	if n.cfg.Variant == ZeroDivergence {
		return n.h - n.l
	}
	return n.cfg.Steps
}

// learn applies the optimiser to theta_l along the weight update. iPC has taken its
// steps during inference.
func (n *node) learn() {
	if n.incremental() {
		return
	}
	n.descend(n.grad)
}

// descend takes one optimiser step of theta_l along the update g.
func (n *node) descend(g *layer.Grad) {
	p, gp, neg := n.layer.Params(), g.Params(), n.neg.Params()
	for i := range p {
		for j, v := range gp[i] {
			neg[i][j] = -v
		}
		n.opt[i].Step(p[i], neg[i])
	}
}
