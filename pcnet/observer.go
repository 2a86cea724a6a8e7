package pcnet

import (
	"unsafe"

	"fmt"
	"github.com/pcnet/pcnet/tensor"
	"slices"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
)

// Observer watches a network. It is optional: a network built without one computes no
// statistics and reads no clock.
//
// Node is called once per node when the network is built; the NodeObserver it returns is
// then called only from that node's goroutine (in the parallel engine every node has its
// own), so it needs no locking of its own unless it shares state across nodes. Batch is
// called from the goroutine that called Infer or Learn, after every node has finished.
type Observer interface {
	Node(info NodeInfo) NodeObserver
	Batch(stats BatchStats)
}

// NodeInfo describes one node of an observed network.
type NodeInfo struct {
	Variant Variant
	Hidden  int // H
	Node    int // l, 0..H+1
	// Distance is the step at which Theorem 1 by graph distance says the node's error
	// first moves (docs/design.md §11): graph.Graph.EtaFixed under FPA-PC, whose
	// predictions stay put, graph.Graph.Eta under the other variants. On a chain both
	// are d_l = H+1-l. 0 for the output node, H+1 for the input node.
	Distance int
	// Final is the step from which a hidden node's error is final when Exact is set:
	// graph.Graph.LongestPath, the longest directed path to the output (d_l on a chain).
	Final int
	// Exact reports that a hidden node's error is final from step Final on: under FPA
	// with gamma 1, e_l(t+1) = Σ_c J_cᵀ(pi_c e_c(t)) over its children and the output
	// error is fixed, so the node holds its exact error from step Final and any further
	// step would repeat it (docs/design.md §5, §11). An observer may then count an error
	// that moved at the last step T >= Final as converged.
	Exact bool
}

// NodeInfo describes node l of a chain of h hidden layers under c to an Observer; a
// coordinator that observes nodes it does not host describes them with it too.
func (c Config) NodeInfo(h, l int) NodeInfo {
	exact := l >= 1 && l <= h && c.Variant.fixedPredictions() && c.Gamma == 1
	return NodeInfo{Variant: c.Variant, Hidden: h, Node: l, Distance: h + 1 - l, Final: h + 1 - l, Exact: exact}
}

// GraphNodeInfo describes node v of the layer graph g under c: NodeInfo with the
// distances of Theorem 1 on a graph (docs/design.md §11), equal to NodeInfo's on a chain.
func (c Config) GraphNodeInfo(g *graph.Graph, v int) NodeInfo {
	h := g.H()
	info := c.NodeInfo(h, v)
	if v < 1 || v > h {
		return info
	}
	info.Final = g.LongestPath(v)
	if c.Variant.fixedPredictions() {
		info.Distance = g.EtaFixed(v)
	} else {
		info.Distance = g.Eta(v)
	}
	return info
}

// NodeObserver sees one node. Every method may be nil-safe no-op in an implementation;
// the runtime calls them in this order for every batch: Step for t = 0..T (hidden nodes,
// the nodes whose error Theorem 1 is about, and the output node, which reports only its
// energy term), then End. A batch that is cancelled or fails may end without End, and
// without Observer.Batch: Step with t = 0 always begins a batch.
type NodeObserver interface {
	// Step reports the node's error e_l(t) right after it was formed (hidden nodes) and
	// its term of the energy F(t) (hidden and output nodes).
	Step(s StepStats)
	// End reports the node's totals for the batch.
	End(s NodeStats)
}

// StepStats is one node at one inference step.
//
// The energy F(t) = sum_{l=1..H} pi_l/2 ||e_l(t)||² + E(t) is the free energy that the
// inference steps descend (docs/design.md §2 and §5): ||e_l||² sums over every entry of
// the B x n_l error, and E is the loss at the output node's current prediction, averaged
// over the batch as the loss always is (its gradient is the output error e_{H+1}, which
// carries the 1/B). For the output node the term is E itself, not ||e_{H+1}||²/2. Under
// FPA-PC, whose predictions stay at the feed-forward values, E stays the feed-forward loss
// and the hidden terms are those of the integrated errors. BatchStats has F(0) and F(T);
// EnergyTrace adds up the terms of a Recorder's reports.
type StepStats struct {
	Step int
	// ErrorMaxAbs is max |e_l(t)|; it is exactly zero until the error has arrived (and
	// always zero for the output node).
	ErrorMaxAbs float64
	// ChangeMaxAbs is max |e_l(t) - e_l(t-1)| (for t = 0, max |e_l(0)|; zero for the
	// output node).
	ChangeMaxAbs float64
	// Energy is the node's term of F(t): pi_l/2 ||e_l(t)||² for a hidden node, E(t) for
	// the output node. It is measured in the pass that forms the error (the squares are
	// summed in vmath.SumSquares's order), so both engines and both schedules give it bit
	// for bit.
	Energy float64
}

// NodeStats are one node's totals over one batch (feed-forward, T steps and learning).
type NodeStats struct {
	Steps int // T
	// VJPs counts the layer's vector-Jacobian products computed: input VJPs during
	// inference and the weight VJP (see the package docs).
	VJPs int
	// SkippedVJPs counts the products the dense schedule computes that the event
	// schedule did not, because their result was known exactly (zero, or the last
	// product's). VJPs + SkippedVJPs is the same under both schedules.
	SkippedVJPs int
	Up          Traffic       // predictions sent to the node above, the feed-forward value included
	Down        Traffic       // errors sent to the node below
	Compute     time.Duration // time spent in the node's own arithmetic
	Wait        time.Duration // time blocked on neighbours (zero in the sequential engine)
}

// Traffic counts the messages a node sent in one direction during a batch.
type Traffic struct {
	Messages [channels.NumPayloads]int // by payload: full, zero, unchanged
	Bytes    int                       // payload bytes of the full messages: 8 per float64, 4 per float32
}

// Total is the number of messages of every payload.
func (t Traffic) Total() int {
	n := 0
	for _, m := range t.Messages {
		n += m
	}
	return n
}

// count counts one message of rows x cols values of size bytes each.
func (t *Traffic) count(p channels.Payload, rows, cols, size int) {
	t.Messages[p]++
	if p == channels.Full {
		t.Bytes += size * rows * cols
	}
}

// sizeOf is the size of a T in bytes.
func sizeOf[T tensor.Float]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// BatchStats describes one finished batch.
type BatchStats struct {
	Variant Variant
	Hidden  int
	Steps   int
	Batch   int     // rows of the batch
	Loss    float64 // loss at the feed-forward values
	Learned bool    // whether the weights were updated
	// EnergyFirst and EnergyLast are F(0) and F(T), the energy at the first and the last
	// inference step (see StepStats): the sums of the nodes' terms in node order, 1..H+1.
	// F(0) is the loss, since every hidden error is zero at step 0.
	EnergyFirst, EnergyLast float64
}

// EnergyTrace is the energy of one batch at every inference step: Total[t] is F(t) and
// Nodes[i][t] the term of node i+1 (nodes 1..H+1, the output node's last).
type EnergyTrace struct {
	Total []float64
	Nodes [][]float64
}

// Energy adds up the energy terms of a batch's node reports (a Recorder's Nodes, every
// node of one network) in node order, as BatchStats does, so that Total[0] and Total[T]
// equal its EnergyFirst and EnergyLast bit for bit. Reports without steps (the input
// node's) are left out; the others must all have the same number of steps.
func Energy(reports []NodeReport) (EnergyTrace, error) {
	var tr EnergyTrace
	rs := slices.Clone(reports)
	slices.SortFunc(rs, func(a, b NodeReport) int { return a.Node - b.Node })
	for _, r := range rs {
		if len(r.Steps) == 0 {
			continue
		}
		if tr.Total == nil {
			tr.Total = make([]float64, len(r.Steps))
		}
		if len(r.Steps) != len(tr.Total) {
			return EnergyTrace{}, fmt.Errorf("pcnet: energy: node %d reported %d steps, an earlier node %d", r.Node, len(r.Steps), len(tr.Total))
		}
		terms := make([]float64, len(r.Steps))
		for t, s := range r.Steps {
			terms[t] = s.Energy
			tr.Total[t] += s.Energy
		}
		tr.Nodes = append(tr.Nodes, terms)
	}
	return tr, nil
}
