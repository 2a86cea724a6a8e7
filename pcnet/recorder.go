package pcnet

import "slices"

// Recorder is an Observer that keeps what every node showed of its last batch: its error
// (hidden nodes) and energy term (hidden and output nodes) at every step, and its totals, as a NodeReport, and the BatchStats of the
// last batch that finished without a fault. It is the observer of tests and experiments that look at one
// batch at a time; a Part records its nodes with one (PartSpec.Observe).
//
// Like any Observer it is written by the nodes' goroutines while a batch runs, each node
// in its own slot, and must be read only between batches, from the goroutine that runs
// them. A Recorder is used by one network or part; its zero value is ready to use.
type Recorder struct {
	nodes   []*nodeRecorder // in node order
	last    BatchStats
	batches int
}

// nodeRecorder is a Recorder's observer of one node, written only by that node.
type nodeRecorder struct{ report NodeReport }

// Node starts recording node info.Node.
func (r *Recorder) Node(info NodeInfo) NodeObserver {
	n := &nodeRecorder{report: NodeReport{Node: info.Node}}
	i, _ := slices.BinarySearchFunc(r.nodes, info.Node, func(n *nodeRecorder, l int) int { return n.report.Node - l })
	r.nodes = slices.Insert(r.nodes, i, n)
	return n
}

// Batch records the stats of a finished batch.
func (r *Recorder) Batch(s BatchStats) {
	r.last = s
	r.batches++
}

// Step records step s.Step; step 0 begins a batch, so a batch cancelled part way leaves
// no steps behind in the next one.
func (n *nodeRecorder) Step(s StepStats) {
	if s.Step == 0 {
		n.report.Steps = n.report.Steps[:0]
	}
	n.report.Steps = append(n.report.Steps, s)
}

// End records the node's totals.
func (n *nodeRecorder) End(s NodeStats) { n.report.End = s }

// Nodes returns a copy of every recorded node's report of its last batch, in node order:
// nodes 0..H+1 for a network, the hosted range for a part. After a batch that was
// cancelled, a node's report is that of the last batch it finished, with the steps of the
// cancelled one.
func (r *Recorder) Nodes() []NodeReport {
	out := make([]NodeReport, len(r.nodes))
	for i, n := range r.nodes {
		out[i] = n.report
		out[i].Steps = slices.Clone(n.report.Steps)
	}
	return out
}

// reports writes the reports into dst (one per recorded node) without copying the steps,
// which the recorder reuses at the next batch.
func (r *Recorder) reports(dst []NodeReport) {
	for i, n := range r.nodes {
		dst[i] = n.report
	}
}

// Last returns the BatchStats of the last batch that finished without a fault (the zero
// value before the first).
func (r *Recorder) Last() BatchStats { return r.last }

// Batches returns the number of batches that finished without a fault since the recorder
// was made: the calls of Batch.
func (r *Recorder) Batches() int { return r.batches }

// NodeReport is everything a node's Observer saw of one batch.
type NodeReport struct {
	Node  int
	Steps []StepStats // hidden and output nodes: t = 0..T
	End   NodeStats
}

// Replay gives an Observer's node observer what a node of a part reported, in the order
// the node itself would have. A nil o (an Observer that does not watch the node) is
// given nothing.
func (r NodeReport) Replay(o NodeObserver) {
	if o == nil {
		return
	}
	for _, s := range r.Steps {
		o.Step(s)
	}
	o.End(r.End)
}
