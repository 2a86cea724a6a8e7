package metrics

import (
	"github.com/pcnet/pcnet/channels"
	"math"
	"strconv"
	"sync"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
)

var _ pcnet.Observer = (*Metrics)(nil)

// Node binds the children of one node's series, once, when the network is built, so that
// the node's Step and End touch no map and take no lock of this package's. (End takes
// the small lock of its distance's Summary tally, shared only with nodes of the same
// variant and distance in other networks.)
func (m *Metrics) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	v, layer := info.Variant.String(), strconv.Itoa(info.Node)
	vm := m.variant(info.Variant)
	vm.hidden.Set(float64(info.Hidden))
	o := &nodeObserver{
		variant: vm,
		compute: m.compute.WithLabelValues(v, layer),
		wait:    m.wait.WithLabelValues(v, layer),
	}
	if info.Node >= 1 && info.Node <= info.Hidden {
		d := strconv.Itoa(info.Distance)
		o.hidden = true
		o.tol = m.opts.ConvergenceTolerance
		if info.Exact {
			o.track.settledFrom = info.Final
		}
		o.track.reset()
		o.firstNonzero = m.firstNonzero.WithLabelValues(v, d)
		o.convergence = m.convergence.WithLabelValues(v, d)
		o.unreached = m.unreached.WithLabelValues(v, d)
		o.unconverged = m.unconverged.WithLabelValues(v, d)
		o.tally = m.tally(info.Variant, info.Distance)
	}
	return o
}

// Batch counts a finished batch.
func (m *Metrics) Batch(s pcnet.BatchStats) {
	vm := m.variant(s.Variant)
	vm.inferences.Inc()
	if s.Learned {
		vm.updates.Inc()
	}
	vm.steps.Add(float64(s.Steps))
	vm.loss.Set(s.Loss)
	vm.energyFirst.Set(s.EnergyFirst)
	vm.energyLast.Set(s.EnergyLast)
	drop := 0.0
	if s.Steps > 0 {
		drop = (s.EnergyFirst - s.EnergyLast) / float64(s.Steps)
	}
	vm.energyDrop.Set(drop)
}

// nodeObserver watches one node. pcnet calls it from that node's goroutine only, so its
// tracking state needs no lock.
type nodeObserver struct {
	variant       *variantMetrics
	compute, wait prometheus.Counter
	hidden        bool
	tol           float64
	track         errorTrack
	firstNonzero  prometheus.Observer
	convergence   prometheus.Observer
	unreached     prometheus.Counter
	unconverged   prometheus.Counter
	tally         *distanceTally
}

// Step only tracks; the histograms are observed once per batch, in End. Step 0 begins a
// batch: a cancelled batch ends without End, and its steps must not count in the next.
func (o *nodeObserver) Step(s pcnet.StepStats) {
	if s.Step == 0 {
		o.track.reset()
	}
	o.track.step(s, o.tol)
}

// End books the node's totals and, for a hidden node, the outcome of the inference.
func (o *nodeObserver) End(s pcnet.NodeStats) {
	vm := o.variant
	vm.vjpsComputed.Add(float64(s.VJPs))
	vm.vjpsSkipped.Add(float64(s.SkippedVJPs))
	for p := range channels.NumPayloads {
		vm.messagesUp[p].Add(float64(s.Up.Messages[p]))
		vm.messagesDown[p].Add(float64(s.Down.Messages[p]))
	}
	// Only full messages carry bytes.
	vm.bytesUp[channels.Full].Add(float64(s.Up.Bytes))
	vm.bytesDown[channels.Full].Add(float64(s.Down.Bytes))
	o.compute.Add(s.Compute.Seconds())
	o.wait.Add(s.Wait.Seconds())
	if !o.hidden {
		return
	}
	out := o.track.outcome()
	o.track.reset()
	switch {
	case out.unobserved:
		return
	case out.unreached:
		o.unreached.Inc()
	default:
		o.firstNonzero.Observe(float64(out.firstNonzero))
		if out.converged {
			o.convergence.Observe(float64(out.convergence))
		} else {
			o.unconverged.Inc()
		}
	}
	o.tally.add(out)
}

// errorTrack follows one node's error through the steps of one inference.
type errorTrack struct {
	first  int  // the first step with a non-zero error, -1 before
	moved  int  // the last step whose change exceeded the tolerance, -1 before
	last   int  // the last step seen, -1 before
	finite bool // the last step's error was finite
	// settledFrom is the step from which the node's error is known to be final
	// (pcnet.NodeInfo.Exact: its Final step, >= 1), 0 when nothing is known. It outlives
	// reset.
	settledFrom int
}

func (k *errorTrack) reset() {
	*k = errorTrack{first: -1, moved: -1, last: -1, settledFrom: k.settledFrom}
}

// step takes the error of one step. A step moved the error when its change exceeds tol
// times the error's size; a NaN or infinite error always moved, so that a diverging node
// never passes for converged.
func (k *errorTrack) step(s pcnet.StepStats, tol float64) {
	if k.first < 0 && s.ErrorMaxAbs != 0 {
		k.first = s.Step
	}
	if !(s.ChangeMaxAbs <= tol*s.ErrorMaxAbs) || math.IsInf(s.ErrorMaxAbs, 0) {
		k.moved = s.Step
	}
	k.last = s.Step
	k.finite = !math.IsNaN(s.ErrorMaxAbs) && !math.IsInf(s.ErrorMaxAbs, 0)
}

// outcome is what one node's error did in one inference.
type outcome struct {
	unobserved   bool // no step was seen
	unreached    bool // the error stayed exactly zero
	firstNonzero int
	converged    bool // the error is at its fixed point: a further step would not move it
	convergence  int  // the last step that moved it: after it, none did
}

// outcome classifies the inference. The error converged when the last step did not move
// it, or when it is known to be final from a step the inference reached (FPA's exact
// case, pcnet.NodeInfo.Exact: the node at distance d = T moves at its last step, to its
// exact value, and a further step would repeat it). The convergence step is never below
// the first non-zero step: with tol < 1 the step at which the error arrives always moves
// it.
func (k *errorTrack) outcome() outcome {
	switch {
	case k.last < 0:
		return outcome{unobserved: true}
	case k.first < 0:
		return outcome{unreached: true}
	}
	settled := k.settledFrom > 0 && k.last >= k.settledFrom && k.finite
	return outcome{firstNonzero: k.first, converged: k.moved < k.last || settled, convergence: k.moved}
}

// distanceKey names a Summary row.
type distanceKey struct {
	variant  pcnet.Variant
	distance int
}

// distanceTally sums the outcomes of the nodes at one variant and distance since the
// last Summary.
type distanceTally struct {
	mu sync.Mutex
	c  tallyCounts
}

type tallyCounts struct {
	inferences                int
	reached, sumFirstNonzero  int
	converged, sumConvergence int
	unreached, unconverged    int
}

func (m *Metrics) tally(v pcnet.Variant, d int) *distanceTally {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := distanceKey{v, d}
	t, ok := m.distances[k]
	if !ok {
		t = &distanceTally{}
		m.distances[k] = t
	}
	return t
}

func (t *distanceTally) add(o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &t.c
	c.inferences++
	if o.unreached {
		c.unreached++
		return
	}
	c.reached++
	c.sumFirstNonzero += o.firstNonzero
	if o.converged {
		c.converged++
		c.sumConvergence += o.convergence
	} else {
		c.unconverged++
	}
}
