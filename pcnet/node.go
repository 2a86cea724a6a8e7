package pcnet

import (
	"fmt"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/internal/straggler"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
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
// The core also decides what every message it sends says (its channels.Payload), so the
// event schedule's decisions are the same under both engines too.
type node[T tensor.Float] struct {
	l, h  int
	role  role
	width int // n_l
	cfg   *Config
	pi    float64 // pi_l: the precision this node's error is sent down with
	gamma float64 // the step size of its state or error
	event bool    // cfg.Schedule == Event

	layer *layer.Dense[T]    // theta_l (input and hidden nodes)
	grad  *layer.Grad[T]     // the weight update dW_l(e_{l+1}) of the last batch
	opt   [2]*optim.State[T] // weight, bias
	obs   NodeObserver

	// iPC only: step is the update of the current step (grad sums them), and learning,
	// set by Network.run before it hands the node to an engine, whether the batch learns.
	step     *layer.Grad[T]
	learning bool

	work   map[int]*nodeWork[T] // by batch size
	w      *nodeWork[T]         // the current batch's
	x0     *tensor.Matrix[T]    // input node: the batch
	mu     *tensor.Matrix[T]    // hidden node: mu_l of the batch (w.mu, or the engine's, see feedForward)
	labels []int                // output node: the batch's labels
	loss   float64              // output node: the loss at the feed-forward values
	stats  NodeStats
	known  known
	// fault is a batch's failure that the node found while following the protocol to
	// the end (a non-finite loss or weight): the engine reports it once every node is
	// done, so that no neighbour is left waiting for a message.
	fault error
	// watched: the network has an Observer, so the node measures its error and energy
	// (whether or not its own NodeObserver is nil: BatchStats sums every node's energy).
	watched bool
	// observed: max|e|, max|Δe| and Σe² of the error the node will report at its next
	// step, and its energy term (docs/design.md §5): pi_l/2 Σe² for a hidden node, E at the
	// current prediction for the output node. energyFirst is the term at step 0.
	size, change, squares float64
	energy, energyFirst   float64
}

// known is what the event schedule knows about a node's buffers without reading them.
// Every flag is set only where the value is certain: a wrong "true" would break the
// bit-for-bit equality with the dense schedule, a wrong "false" only costs work.
type known struct {
	eZero    bool // e holds +0 in every entry
	eFixed   bool // FPA: a step with the current jte leaves e bit for bit as it is
	eNews    bool // FPA: e changed since the node last sent it down
	xMoved   bool // x changed since e was last formed
	cotZero  bool // the last cotangent received is exactly zero
	jteValid bool // jte is the input VJP of the current point and cotangent
	jteZero  bool // jte is zero (its buffer may not hold the zeros yet: see jteStale)
	jteStale bool // jte is zero but its buffer still holds an older value
	jteNews  bool // jte changed at this step
	deltaOld bool // the point moved since delta was gated, and no cotangent came since
	predNews bool // a full prediction arrived after the feed-forward pass
}

// nodeWork holds a node's buffers for one batch size, allocated once.
type nodeWork[T tensor.Float] struct {
	mu, x, e *tensor.Matrix[T] // B x n_l (hidden; the output node keeps e_{H+1} in e)
	deriv    *tensor.Matrix[T] // B x n_{l+1}: g_l'(a_l) at the node's current point
	delta    *tensor.Matrix[T] // B x n_{l+1}: the gated cotangent deriv ⊙ (pi e_{l+1})
	jte      *tensor.Matrix[T] // B x n_l: J_l^T (pi_{l+1} e_{l+1})
}

// fixed reports whether the node's incoming prediction never changes after the
// feed-forward pass: under FPA, and for node 1, whose input x_0 is clamped.
// Under iPC theta_0 learns at every step, so node 1's prediction moves with it.
func (n *node[T]) fixedPrediction() bool {
	return n.cfg.Variant.fixedPredictions() || n.l == 1 && !n.incremental()
}

// incremental reports whether the node learns at every inference step (iPC).
func (n *node[T]) incremental() bool { return n.cfg.Variant == Incremental }

// receivesPrediction reports whether the node is sent a new prediction at step t >= 1.
func (n *node[T]) receivesPrediction() bool { return n.role != inputRole && !n.fixedPrediction() }

// sendsPrediction reports whether the node sends a new prediction at step t >= 1.
func (n *node[T]) sendsPrediction() bool {
	if n.incremental() {
		return n.role != outputRole
	}
	return n.role == hiddenRole && !n.cfg.Variant.fixedPredictions()
}

// begin readies the node for a batch: the buffers of its size and a zero update.
func (n *node[T]) begin(x0 *tensor.Matrix[T], labels []int) {
	batch := len(labels)
	w, ok := n.work[batch]
	if !ok {
		w = n.newWork(batch)
		n.work[batch] = w
	}
	n.w = w
	n.x0, n.labels = x0, labels
	n.stats = NodeStats{Steps: n.cfg.Steps}
	n.known = known{}
	n.fault = nil
	// The weight VJP writes the whole update when it runs; the update is zeroed here only
	// when it may not (its step lies beyond T) or when iPC sums into it, and in act where
	// the event schedule skips it. Zeroing the first layer's 784 x n update every batch
	// would cost a pass over it that backprop does not make.
	if n.grad != nil && (n.incremental() || n.updateStep() > n.cfg.Steps) {
		n.grad.Zero()
	}
}

func (n *node[T]) newWork(batch int) *nodeWork[T] {
	w := &nodeWork[T]{}
	if n.role != inputRole {
		k := n.width
		w.e = tensor.New[T](batch, k, nil)
		if n.role == hiddenRole {
			w.mu = tensor.New[T](batch, k, nil)
			w.x = tensor.New[T](batch, k, nil)
			w.jte = tensor.New[T](batch, k, nil)
		}
	}
	if n.layer != nil {
		w.deriv = tensor.New[T](batch, n.layer.Out(), nil)
		w.delta = tensor.New[T](batch, n.layer.Out(), nil)
	}
	return w
}

// feedForward receives p_l(0) = mu_l from below (nil for the input node) and writes
// p_{l+1}(0) = mu_{l+1} = f_l(mu_l) to up (nil for the output node), a full message.
// With keep, the caller guarantees that below holds mu_l unchanged until the batch ends
// (an engine whose message storage outlives the message, for a node that is sent no
// other prediction), and the node reads mu_l there rather than copy it.
func (n *node[T]) feedForward(below, up *tensor.Matrix[T], keep bool) {
	switch n.role {
	case inputRole:
		n.layer.Forward(up, n.w.deriv, n.x0)
	case hiddenRole:
		n.mu = below
		if !keep {
			n.w.mu.Copy(below)
			n.mu = n.w.mu
		}
		if n.cfg.Variant.fixedPredictions() {
			n.w.e.Zero()
			n.known.eZero = true
		} else {
			n.w.x.Copy(below)
		}
		n.layer.Forward(up, n.w.deriv, n.mu)
	case outputRole:
		n.loss = layer.LossValue(n.cfg.Loss, below, n.labels)
		if !isFinite(n.loss) {
			n.fault = fmt.Errorf("%w: the loss at the feed-forward values is %v", ErrNonFinite, n.loss)
		}
	}
	if up != nil {
		r, c := up.Dims()
		n.stats.Up.count(channels.Full, r, c, sizeOf[T]())
	}
}

// formError forms e_l(t) and writes pi_l e_l(t), the message for the node below, to down;
// it returns what the message says, and down is written only for a full one. below is
// p_l(t) when the node received a prediction at this step, else nil; pred says what
// that message said (only a full one is read). down may be nil when pi_l is 1: the
// message is then e itself (errorView), for an engine whose receiver reads it before the
// node changes e again.
func (n *node[T]) formError(t int, pred channels.Payload, below, down *tensor.Matrix[T]) channels.Payload {
	w := n.w
	out := channels.Full
	if below != nil && pred != channels.Full {
		below = nil // what it held is what the node already has
	} else if below != nil && t > 0 {
		n.known.predNews = true
	}
	switch n.role {
	case outputRole:
		// e_{H+1} = -dE/dz at the current prediction; FPA keeps the feed-forward one.
		// E moves only with the prediction: without a new one it is the last step's.
		switch {
		case below != nil && n.watched:
			n.energy = layer.NegGradValue(n.cfg.Loss, w.e, below, n.labels)
		case below != nil:
			layer.NegGrad(n.cfg.Loss, w.e, below, n.labels)
		case n.event:
			out = channels.Unchanged
		}
		n.observeStep(t, StepStats{Step: t, Energy: n.energy})
	case hiddenRole:
		if n.cfg.Variant.fixedPredictions() {
			// e_l is integrated, nothing to form: say whether it moved since it was sent.
			switch {
			case !n.event:
				if t == 0 && n.watched {
					// The buffer should hold zeros now; measure it rather than assume it,
					// so that a stale error shows.
					m := layer.MeasureError(w.e)
					n.size, n.squares = m.Size, m.Squares
				}
			case n.known.eZero:
				out = channels.Zero
			case !n.known.eNews:
				out = channels.Unchanged
			}
			if n.event && t == 0 {
				n.size, n.squares = 0, 0 // feedForward zeroed e
			}
			n.known.eNews = false
		} else {
			p := below
			if p == nil {
				if n.known.predNews {
					// Unreachable: a node whose state moved always sends its prediction
					// in full, so "unchanged" means "still mu".
					n.fail("an unchanged prediction arrived after a full one at step %d", t)
				}
				p = n.mu
			}
			computed := true
			switch {
			case n.event && t == 0:
				// x was copied from the prediction, so x - p is +0 everywhere (for finite
				// values; the output's loss check catches the others).
				w.e.Zero()
				n.known.eZero = true
				n.size, n.change, n.squares = 0, 0, 0
				computed = false
			case n.event && below == nil && !n.known.xMoved:
				n.change = 0 // neither x nor p moved: e is what it was
				computed = false
			case n.watched || n.event:
				m := layer.PredictionErrorStats(w.e, w.x, p)
				n.size, n.change, n.squares = m.Size, m.Change, m.Squares
				n.known.eZero, n.known.xMoved = false, false
			default:
				layer.PredictionError(w.e, w.x, p)
			}
			if !computed {
				out = channels.Unchanged
				if n.known.eZero {
					out = channels.Zero
				}
			}
		}
		if n.watched {
			if t == 0 {
				// e's old content belongs to the previous batch; e_l(0) is all the change.
				n.change = n.size
			}
			n.energy = n.pi * n.squares / 2
			n.observeStep(t, StepStats{Step: t, ErrorMaxAbs: n.size, ChangeMaxAbs: n.change, Energy: n.energy})
		}
	}
	if !n.event {
		out = channels.Full
	}
	if out == channels.Full && down != nil {
		layer.ScaleInto(down, w.e, n.pi)
	}
	r, c := w.e.Dims()
	n.stats.Down.count(out, r, c, sizeOf[T]())
	return out
}

// observeStep keeps the energy of step 0 for BatchStats and reports the step to the
// node's observer, if it has one.
func (n *node[T]) observeStep(t int, s StepStats) {
	if !n.watched {
		return
	}
	if t == 0 {
		n.energyFirst = n.energy
	}
	if n.obs != nil {
		n.obs.Step(s)
	}
}

// errorView returns e_l, which is the message pi_l e_l when pi_l is 1.
func (n *node[T]) errorView() *tensor.Matrix[T] { return n.w.e }

// point returns the value the node's layer is evaluated at: x_0, mu_l under FPA, x_l(t)
// otherwise.
func (n *node[T]) point() *tensor.Matrix[T] {
	switch {
	case n.role == inputRole:
		return n.x0
	case n.cfg.Variant.fixedPredictions():
		return n.mu
	}
	return n.w.x
}

// absorb receives pi_{l+1} e_{l+1}(t) from above (read only when cot is Full) and gates it
// into the cotangent that the step's products start from. Nothing reads the message
// after absorb, so the actor hands its buffer back before the products: the node above
// can then send its next error into the same buffer, and one buffer per link suffices.
//
// Under the event schedule a node gates every full cotangent, even at a step where it
// does not act, because a later "unchanged" message refers to it.
func (n *node[T]) absorb(t int, cot channels.Payload, above *tensor.Matrix[T]) {
	update, advance := n.acts(t)
	if !n.event {
		if update || advance {
			layer.Gate(n.w.delta, n.w.deriv, above)
		}
		return
	}
	switch cot {
	case channels.Full:
		layer.Gate(n.w.delta, n.w.deriv, above)
		n.known.cotZero, n.known.jteValid, n.known.deltaOld = false, false, false
	case channels.Zero:
		n.known.cotZero = true
		n.known.jteValid = n.known.jteZero
	case channels.Unchanged:
		if n.known.deltaOld && !n.known.cotZero {
			// Unreachable: a node whose point moved has sent a full prediction, so the
			// error that comes back is full too.
			n.fail("an unchanged error arrived at step %d after the point moved", t)
		}
	}
}

// acts reports what integrate does at step t: take the weight update, advance the state.
func (n *node[T]) acts(t int) (update, advance bool) {
	if n.incremental() {
		return t < n.cfg.Steps, n.role == hiddenRole && t < n.cfg.Steps
	}
	return t == n.updateStep(), n.role == hiddenRole && t < n.cfg.Steps
}

// integrate takes the weight update when t is its step, and for t < T advances the node's
// state to step t+1, writing the new prediction p_{l+1}(t+1) to up when the node sends
// one; it returns what that message says. absorb has gated the error of step t.
func (n *node[T]) integrate(t int, up *tensor.Matrix[T]) channels.Payload {
	var out channels.Payload
	if n.incremental() {
		out = n.integrateIncremental(t, up)
	} else {
		out = n.act(t, up)
	}
	if up != nil {
		r, c := up.Dims()
		n.stats.Up.count(out, r, c, sizeOf[T]())
	}
	return out
}

func (n *node[T]) act(t int, up *tensor.Matrix[T]) channels.Payload {
	w := n.w
	update, advance := n.acts(t)
	if !update && !advance {
		return channels.Unchanged
	}
	k := &n.known
	if update {
		if n.event && k.cotZero {
			n.grad.Zero() // the update of a zero cotangent
			n.stats.SkippedVJPs++
		} else {
			n.layer.WeightVJP(n.grad.W, n.grad.B, n.point(), w.delta)
			n.stats.VJPs++
			straggler.Product(n.l)
		}
	}
	if !advance {
		return channels.Unchanged
	}
	switch {
	case !n.event:
		n.inputVJP()
	case k.cotZero:
		k.jteNews = n.zeroInputVJP()
		k.jteValid = true
	case k.jteValid:
		k.jteNews = false
		n.stats.SkippedVJPs++
	default:
		n.inputVJP()
		k.jteValid, k.jteNews = true, true
	}
	if n.cfg.Variant.fixedPredictions() {
		switch {
		case n.event && (k.eZero && k.jteZero || k.eFixed && !k.jteNews):
			// e - gamma (e - jte) is e, bit for bit: +0 - gamma(+0 - 0) is +0, and a step
			// that moved nothing moves nothing the second time (see eFixed).
			n.change = 0
			k.eFixed = true
		case n.watched || n.event:
			wasZero := k.eZero
			m := layer.FixedPredictionErrorStepStats(w.e, n.jteBuffer(), n.gamma)
			n.size, n.change, n.squares = m.Size, m.Change, m.Squares
			// A step whose largest move is ±0 can only have turned a -0 into +0; the
			// next step with the same jte then moves nothing. With gamma = 1 from e = +0,
			// e becomes jte (0 - (0 - j) = j) and e - (e - j) = e from then on.
			k.eFixed = n.change == 0 || n.gamma == 1 && wasZero
			k.eZero, k.eNews = false, true
		default:
			layer.FixedPredictionErrorStep(w.e, w.jte, n.gamma)
		}
		return channels.Unchanged
	}
	if n.event && k.eZero && k.jteZero {
		// x - gamma (pi·(+0) - 0) is x: the state, and so the prediction, stay as they are.
		return channels.Unchanged
	}
	layer.StateStep(w.x, w.e, n.jteBuffer(), n.pi, n.gamma)
	n.layer.Forward(up, w.deriv, w.x)
	k.xMoved, k.jteValid, k.deltaOld = true, false, true
	return channels.Full
}

// inputVJP computes jte = J_lᵀ(pi e_{l+1}) from the gated cotangent.
func (n *node[T]) inputVJP() {
	n.layer.InputVJP(n.w.jte, n.w.delta)
	n.stats.VJPs++
	straggler.Product(n.l)
	n.known.jteZero, n.known.jteStale = false, false
}

// zeroInputVJP skips the input VJP of a zero cotangent: jte is zero. It reports whether
// jte changed (it held something else). The buffer is zeroed only when a step reads it
// (jteBuffer): a node before the wavefront, whose error is zero too, never does.
func (n *node[T]) zeroInputVJP() (changed bool) {
	n.stats.SkippedVJPs++
	if n.known.jteZero {
		return false
	}
	n.known.jteZero, n.known.jteStale = true, true
	return true
}

// jteBuffer returns the buffer of jte for a rule to read, with the zeros written if
// they were only known.
func (n *node[T]) jteBuffer() *tensor.Matrix[T] {
	if n.known.jteStale {
		n.w.jte.Zero()
		n.known.jteStale = false
	}
	return n.w.jte
}

// updateStep is the step whose values give the weight update: H-l for Z-IL, T otherwise.
func (n *node[T]) updateStep() int {
	if n.cfg.Variant == ZeroDivergence {
		return n.h - n.l
	}
	return n.cfg.Steps
}

// learn applies the optimiser to theta_l along the weight update (iPC has taken its
// steps during inference), and records a fault if a step made a parameter non-finite
// (the next batch would compute with it, and a skipped product differs from a computed
// one only there: 0·Inf is NaN).
func (n *node[T]) learn() {
	if n.incremental() {
		return
	}
	n.descend(n.grad)
}

// descend takes one optimiser step of theta_l along the update g.
func (n *node[T]) descend(g *layer.Grad[T]) {
	p, gp := n.layer.Params(), g.Params()
	for i := range p {
		n.opt[i].StepAscent(p[i], gp[i]) // g is a negative gradient
	}
	if err := checkFinite(n.l, n.layer); err != nil && n.fault == nil {
		n.fault = fmt.Errorf("%w after the optimiser step: the weights diverged", err)
	}
}

// fail records a broken protocol invariant as the batch's fault.
func (n *node[T]) fail(format string, args ...any) {
	if n.fault == nil {
		n.fault = fmt.Errorf("pcnet: node %d: internal error: "+format, append([]any{n.l}, args...)...)
	}
}
