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

	m     layer.Map[T]       // theta_l (input and hidden nodes): node l -> its term of mu_{l+1}
	grad  *layer.Grad[T]     // the weight update dW_l(e_{l+1}) of the last batch
	opt   [2]*optim.State[T] // weight, bias (an empty bias for a map without one)
	obs   NodeObserver
	scale float64 // layer.UpdateScale of the batch: 1/B under a per-sample loss, else 1

	// The node's edges in the layer graph (docs/design.md §11), each a link of its own:
	// from[k] is the parent whose message arrives on in-edge k (the chain parent l-1
	// first, then the skip sources ascending: the order GraphNet sums mu_l in), to[k]
	// the child of out-edge k (the chain child l+1 first, then the skip targets
	// ascending: the order GraphNet sums the cotangent in). ins and outs are the edges'
	// ids: l for the chain edge l -> l+1, H+1+k for the graph's skip k.
	from, to  []int
	ins, outs []int

	// iPC only: step is the update of the current step (grad sums them), and learning,
	// set by Network.run before it hands the node to an engine, whether the batch learns.
	step     *layer.Grad[T]
	learning bool
	// lateUpdate, set by the host before a batch: the parallel engine commits the batch
	// in a second phase (engine.run), and the weight VJP of the last step waits for it
	// (pendingUpdate), so that the optimiser step reads the update while it is in cache,
	// as backprop's step does, rather than after every node's inference has passed over
	// the caches. The VJP reads only the node's point, cotangent and Jacobian record,
	// which nothing changes after the node's last step, so its bits are the same.
	lateUpdate, pendingUpdate bool

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
	deltaOld bool // the point moved since the cotangent arrived, and no cotangent came since
	predNews bool // a full prediction arrived after the feed-forward pass
	// gated: the last VJP at the node's point was the input VJP, and neither the point
	// nor the cotangent moved since, so the weight VJP may read the gated cotangent that
	// it left (layer.Map's WeightVJPAfterInput). Every engine and schedule keeps it.
	gated bool

	// A node with skip children: jte is the input VJP above plus their errors.
	skipZero  []bool // skip child k's last error is zero (skipErr[k] may not hold the zeros)
	skipStale []bool // skipErr[k] must be zeroed before it is read
	skipNews  bool   // a skip child's error changed since the sum was formed
	sumValid  bool   // sum holds vjp + skipErr of the current values
	sumZero   bool   // the sum is zero (its buffer may not hold the zeros: sumStale)
	sumStale  bool
}

// nodeWork holds a node's buffers for one batch size, allocated once.
type nodeWork[T tensor.Float] struct {
	mu, x, e *tensor.Matrix[T] // B x n_l (hidden; the output node keeps e_{H+1} in e)
	at       *layer.Point[T]   // the map's record of the node's current point
	cot      *tensor.Matrix[T] // B x n_{l+1}: the cotangent pi_{l+1} e_{l+1} from the chain child
	jte      *tensor.Matrix[T] // B x n_l: J_l^T (pi_{l+1} e_{l+1}), the input VJP
	// With skip children: skipErr[k] is pi_j e_j of skip child k, and sum is
	// jte + skipErr[0] + skipErr[1] + ..., the whole cotangent of x_l. Without, sum is jte.
	skipErr []*tensor.Matrix[T]
	sum     *tensor.Matrix[T]
	// With several parents: parts[k] is the last message of in-edge k, pred their sum,
	// the prediction mu_l(t).
	parts []*tensor.Matrix[T]
	pred  *tensor.Matrix[T]
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
	n.known = known{skipZero: n.known.skipZero[:0], skipStale: n.known.skipStale[:0]}
	for range len(n.to) - 1 {
		// Before the first message a skip child's error is unknown, not zero.
		n.known.skipZero = append(n.known.skipZero, false)
		n.known.skipStale = append(n.known.skipStale, false)
	}
	n.scale = layer.UpdateScale(n.cfg.Loss, batch)
	n.fault = nil
	n.pendingUpdate = false // a cancelled batch's is dropped
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
	if n.m != nil {
		w.at = n.m.NewPoint(batch)
		w.cot = tensor.New[T](batch, n.m.Out(), nil)
	}
	w.sum = w.jte
	if k := len(n.to) - 1; k > 0 && n.role == hiddenRole {
		for range k {
			w.skipErr = append(w.skipErr, tensor.New[T](batch, n.width, nil))
		}
		w.sum = tensor.New[T](batch, n.width, nil)
	}
	if len(n.from) > 1 {
		for range n.from {
			w.parts = append(w.parts, tensor.New[T](batch, n.width, nil))
		}
		w.pred = tensor.New[T](batch, n.width, nil)
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
		n.m.ForwardAt(up, n.w.at, n.x0)
	case hiddenRole:
		n.mu = below
		if !keep {
			n.w.mu.Copy(below)
			n.mu = n.w.mu
		}
		if n.cfg.Variant.fixedPredictions() {
			// e_l(0) is +0. Under the event schedule nothing reads the buffer while e is
			// known to be zero (its messages say so), and with gamma 1 the first error
			// step writes the whole of it (setError) reading the old values only for its
			// figures, which only an observer uses: unwatched, the zeros need not be
			// written, a pass over e that backprop does not make.
			if !n.event || n.gamma != 1 || n.watched {
				n.w.e.Zero()
			}
			n.known.eZero = true
		} else {
			n.w.x.Copy(below)
		}
		n.m.ForwardAt(up, n.w.at, n.mu)
	case outputRole:
		n.loss = layer.LossValue(n.cfg.Loss, below, n.labels)
		if !isFinite(n.loss) {
			n.fault = fmt.Errorf("%w: the loss at the feed-forward values is %v", ErrNonFinite, n.loss)
		}
	}
	n.countUp(channels.Full, up)
}

// countUp counts the messages the node sends up at once, one per out-edge: p_{l+1} to
// the chain child and x_l to each skip child, all saying what p says.
func (n *node[T]) countUp(p channels.Payload, up *tensor.Matrix[T]) {
	if up == nil {
		return
	}
	r, c := up.Dims()
	n.stats.Up.count(p, r, c, sizeOf[T]())
	for range n.to[1:] {
		n.stats.Up.count(p, r, n.width, sizeOf[T]())
	}
}

// formError forms e_l(t) and writes pi_l e_l(t), the message for the nodes below, to down;
// it returns what the message says, and down is written only for a full one. below is
// p_l(t) when the node received a prediction at this step (on a graph, gather's sum of
// its parents' messages), else nil; pred says what that message said (only a full one is
// read). down may be nil when pi_l is 1: the
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
		n.errorMessage(down)
	}
	r, c := w.e.Dims()
	for range n.from {
		n.stats.Down.count(out, r, c, sizeOf[T]())
	}
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

// errorMessage writes the message pi_l e_l(t) to dst: formError's for its first parent,
// and the same again for each other one (each link has a buffer of its own).
func (n *node[T]) errorMessage(dst *tensor.Matrix[T]) { layer.ScaleInto(dst, n.w.e, n.pi) }

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

// absorb receives pi_{l+1} e_{l+1}(t) from the chain child (read only when cot is Full)
// and keeps it as the cotangent that the step's products start from. Nothing reads the
// message after absorb, so the actor hands its buffer back before the products: the node
// above can then send its next error into the same buffer, and one buffer per link
// suffices.
//
// Under the event schedule a node keeps every full cotangent, even at a step where it
// does not act, because a later "unchanged" message refers to it.
func (n *node[T]) absorb(t int, cot channels.Payload, above *tensor.Matrix[T]) {
	update, advance := n.acts(t)
	if !n.event {
		if update || advance {
			n.w.cot.Copy(above)
			n.known.gated = false
		}
		return
	}
	switch cot {
	case channels.Full:
		n.w.cot.Copy(above)
		n.known.gated = false
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
// one; it returns what that message says (and what the messages x_l(t+1) to its skip
// children say, value). absorb has taken the error of step t.
func (n *node[T]) integrate(t int, up *tensor.Matrix[T]) channels.Payload {
	var out channels.Payload
	if n.incremental() {
		out = n.integrateIncremental(t, up)
	} else {
		out = n.act(t, up)
	}
	n.countUp(out, up)
	return out
}

// weightUpdate writes the weight update of the current point and cotangent into g,
// scaled by the batch's UpdateScale (GraphNet's order: the VJP, then the scale).
func (n *node[T]) weightUpdate(g *layer.Grad[T]) {
	if n.known.gated {
		// The input VJP of this point and cotangent has gated it already (FPA's event
		// schedule: at the step the error arrives, the weight VJP at step T).
		n.m.WeightVJPAfterInput(g, n.w.at, n.point(), n.w.cot)
	} else {
		n.m.WeightVJPAt(g, n.w.at, n.point(), n.w.cot)
	}
	if n.scale != 1 {
		g.Scale(n.scale)
	}
	n.stats.VJPs++
	straggler.Product(n.l)
}

func (n *node[T]) act(t int, up *tensor.Matrix[T]) channels.Payload {
	w := n.w
	update, advance := n.acts(t)
	if !update && !advance {
		return channels.Unchanged
	}
	k := &n.known
	if update {
		switch {
		case n.event && k.cotZero:
			n.grad.Zero() // the update of a zero cotangent
			n.stats.SkippedVJPs++
		case n.lateUpdate && t == n.cfg.Steps:
			// The last step: no message can change the cotangent any more.
			n.pendingUpdate = true // learn computes it (lateUpdate)
		default:
			n.weightUpdate(n.grad)
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
	zero, news := n.cotangent()
	if n.cfg.Variant.fixedPredictions() {
		switch {
		case n.event && (k.eZero && zero || k.eFixed && !news):
			// e - gamma (e - jte) is e, bit for bit: +0 - gamma(+0 - 0) is +0, and a step
			// that moved nothing moves nothing the second time (see eFixed).
			n.change = 0
			k.eFixed = true
		case n.watched || n.event:
			m := n.errorStep(true)
			n.size, n.change, n.squares = m.Size, m.Change, m.Squares
			// A step whose largest move is ±0 can only have turned a -0 into +0; the
			// next step with the same jte then moves nothing. With gamma = 1 the step
			// writes jte itself (errorStep), which the next one writes again.
			k.eFixed = n.change == 0 || n.gamma == 1
			k.eZero, k.eNews = false, true
		default:
			n.errorStep(false)
		}
		return channels.Unchanged
	}
	if n.event && k.eZero && zero {
		// x - gamma (pi·(+0) - 0) is x: the state, and so the prediction, stay as they are.
		return channels.Unchanged
	}
	layer.StateStep(w.x, w.e, n.sumBuffer(), n.pi, n.gamma)
	n.m.ForwardAt(up, w.at, w.x)
	k.xMoved, k.jteValid, k.deltaOld, k.gated = true, false, true, false
	return channels.Full
}

// errorStep takes FPA-PC's error step e <- e - gamma (e - c) with c the whole cotangent
// (sumBuffer), measuring the new error when measure is set. With gamma = 1 the step is
// e <- c in exact arithmetic, and the node writes c + 0 (setError): on a chain, where e
// is +0 or c already, that is what the rounded formula gives too, bit for bit; on a
// graph with skips, where e_l takes a new value at each path length
// (graph.Graph.PathLengths), the formula from an older value would round, and c + 0
// keeps the error, and so the update, backprop's exactly (docs/design.md §11).
func (n *node[T]) errorStep(measure bool) layer.ErrorStats {
	c := n.sumBuffer()
	switch {
	case n.gamma == 1:
		return setError(n.w.e, c)
	case measure:
		return layer.FixedPredictionErrorStepStats(n.w.e, c, n.gamma)
	}
	layer.FixedPredictionErrorStep(n.w.e, c, n.gamma)
	return layer.ErrorStats{}
}

// inputVJP computes jte = J_lᵀ(pi e_{l+1}) from the cotangent.
func (n *node[T]) inputVJP() {
	n.m.InputVJPAt(n.w.jte, n.w.at, n.w.cot)
	n.stats.VJPs++
	straggler.Product(n.l)
	n.known.jteZero, n.known.jteStale, n.known.gated = false, false, true
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
	if n.pendingUpdate {
		n.weightUpdate(n.grad)
		n.pendingUpdate = false
	}
	n.descend(n.grad)
}

// descend takes one optimiser step of theta_l along the update g.
func (n *node[T]) descend(g *layer.Grad[T]) {
	p, gp := n.m.Params(), g.Params()
	finite := true
	for i := range p {
		// g is a negative gradient. The step says whether the new weights are finite,
		// from its own pass where it can, which spares a pass over them that BP does
		// not pay (issue 18); only then are they searched for the culprit.
		finite = n.opt[i].StepAscentFinite(p[i], gp[i]) && finite
	}
	if finite {
		return
	}
	if err := checkFinite(n.l, n.m); err != nil && n.fault == nil {
		n.fault = fmt.Errorf("%w after the optimiser step: the weights diverged", err)
	}
}

// fail records a broken protocol invariant as the batch's fault.
func (n *node[T]) fail(format string, args ...any) {
	if n.fault == nil {
		n.fault = fmt.Errorf("pcnet: node %d: internal error: "+format, append([]any{n.l}, args...)...)
	}
}
