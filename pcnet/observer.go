package pcnet

import (
	"time"

	"github.com/pcnet/pcnet/channels"
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
	Variant  Variant
	Hidden   int // H
	Node     int // l, 0..H+1
	Distance int // d_l = H+1-l: 0 for the output node, H+1 for the input node
}

// NodeObserver sees one node. Every method may be nil-safe no-op in an implementation;
// the runtime calls them in this order for every batch: Step for t = 0..T (hidden nodes
// only: the nodes whose error Theorem 1 is about), then End. A batch that is cancelled or
// fails may end without End, and without Observer.Batch: Step with t = 0 always begins a
// batch.
type NodeObserver interface {
	// Step reports the node's error e_l(t) right after it was formed.
	Step(s StepStats)
	// End reports the node's totals for the batch.
	End(s NodeStats)
}

// StepStats is one hidden node at one inference step.
type StepStats struct {
	Step int
	// ErrorMaxAbs is max |e_l(t)|; it is exactly zero until the error has arrived.
	ErrorMaxAbs float64
	// ChangeMaxAbs is max |e_l(t) - e_l(t-1)| (for t = 0, max |e_l(0)|).
	ChangeMaxAbs float64
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
	Bytes    int                       // payload bytes: 8 per float64 of the full messages
}

// Total is the number of messages of every payload.
func (t Traffic) Total() int {
	n := 0
	for _, m := range t.Messages {
		n += m
	}
	return n
}

func (t *Traffic) count(p channels.Payload, rows, cols int) {
	t.Messages[p]++
	if p == channels.Full {
		t.Bytes += 8 * rows * cols
	}
}

// BatchStats describes one finished batch.
type BatchStats struct {
	Variant Variant
	Hidden  int
	Steps   int
	Batch   int     // rows of the batch
	Loss    float64 // loss at the feed-forward values
	Learned bool    // whether the weights were updated
}
