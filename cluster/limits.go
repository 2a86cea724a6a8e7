package cluster

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/spec"
)

// Bounds on what a process receives (docs/design.md §9): every size a message declares
// is checked against them before anything is allocated by it, and every subject's
// assembled messages against what it can legitimately carry.
const (
	// smallMessage bounds a message that carries no theta and no batch (hello, ready,
	// fetch, stop, failed), and the slack of the others (gob's field names, the
	// observer statistics of a report, the links' traffic).
	smallMessage = 1 << 16
	// DefaultMaxSetup bounds a worker's commands until its first setup tells it the
	// network's shape (WorkerOptions.MaxSetup): 1 GiB of theta and optimiser states.
	DefaultMaxSetup = 1 << 30
	// maxNodeFloats bounds MaxBatch x n_l for every node a worker hosts or links to: a
	// node's state is several matrices of that size (1 GiB each at most).
	maxNodeFloats = 1 << 27
)

// stateBytes is the size of layers lo..hi's theta and optimiser states on the wire
// (values only, size bytes each) in a network of widths, whose maps have a bias (dense
// layers) or not (pre-activation maps, docs/design.md §11).
func stateBytes(widths []int, lo, hi int, opt optim.Config, size int, bias bool) int64 {
	bufs := int64(1)
	if opt.Kind != 0 {
		bufs += int64(len(opt.NewState(1).Buffers()))
	}
	var n int64
	for l := lo; l <= min(hi, len(widths)-2); l++ {
		n += int64(widths[l]) * int64(widths[l+1])
		if bias {
			n += int64(widths[l+1])
		}
	}
	return int64(size) * n * bufs
}

// batchBytes is the size of a batch message of maxBatch rows of n0 inputs (size bytes
// each) and labels.
func batchBytes(maxBatch, n0, size int) int64 {
	return int64(size)*int64(maxBatch)*int64(n0) + 10*int64(maxBatch) // gob's varint labels
}

// sizeOf is the size of a value of precision p on the wire; checkSetup has refused any
// precision but F32 and F64.
func sizeOf(p spec.Precision) int {
	if p == spec.F32 {
		return 4
	}
	return 8
}

// checkSetup checks a setup's declared shape for the worker of nodes r before anything
// is allocated: the precision, widths, H and MaxBatch within spec's bounds, the layer
// graph (docs/design.md §11: the shape, the parameterisation, the long skips), the
// working memory of the hosted nodes and of every node they link to (chain neighbours
// and the other ends of long skips) within maxNodeFloats, and every hosted map's theta
// as many bytes as its widths make in the precision (a pre-activation map has no bias).
func checkSetup(m *message, r Range) error {
	n := &m.Net
	if n.Precision != spec.F32 && n.Precision != spec.F64 {
		return fmt.Errorf("precision %v; want f32 or f64", n.Precision)
	}
	if err := spec.CheckHidden(n.Hidden()); err != nil {
		return err
	}
	for _, w := range n.Sizes {
		if err := spec.CheckWidth(w); err != nil {
			return err
		}
	}
	h := n.Hidden()
	switch {
	case n.Batch < 1 || n.Batch > spec.MaxBatch:
		return fmt.Errorf("a max batch of %d; want 1..%d", n.Batch, spec.MaxBatch)
	case r.Hi > h+1:
		return fmt.Errorf("a network of %d nodes has no %v", h+2, r)
	}
	g, err := setupGraph(n)
	if err != nil {
		return err
	}
	for _, l := range linkedNodes(g, r) {
		if int64(n.Batch)*int64(n.Sizes[l]) > maxNodeFloats {
			return fmt.Errorf("node %d: a max batch of %d x width %d exceeds %d values", l, n.Batch, n.Sizes[l], maxNodeFloats)
		}
	}
	want := max(min(r.Hi, h)-r.Lo+1, 0)
	if len(m.Layers) != want {
		return fmt.Errorf("%d layers for %d hosted weight layers", len(m.Layers), want)
	}
	size := int64(sizeOf(n.Precision))
	bias := int64(0)
	if n.Dense() {
		bias = 1
	}
	for i, s := range m.Layers {
		l := r.Lo + i
		in, out := int64(n.Sizes[l]), int64(n.Sizes[l+1])
		if int64(len(s.W)) != size*in*out || int64(len(s.B)) != bias*size*out {
			return fmt.Errorf("layer %d of %dx%d: %d weight and %d bias bytes (%s)", l, in, out, len(s.W), len(s.B), n.Precision.Type())
		}
	}
	return nil
}

// setupGraph checks the setup's graph fields (the shape, the parameterisation, the long
// skips, whose count its sender can only declare with bytes that arrived: they are a
// slice) and returns the graph: spec's own check, with its message.
func setupGraph(n *spec.Run) (*graph.Graph, error) {
	if n.Param != layer.Standard && n.Param != layer.MuPC {
		return nil, fmt.Errorf("parameterisation %d; want standard or mupc", int(n.Param))
	}
	g, err := n.Graph()
	if err != nil {
		return nil, fmt.Errorf("layer graph: %w", err)
	}
	return g, nil
}

// linkedNodes returns the nodes of g that the worker of r hosts or links to: its range,
// the chain neighbours just outside it and the other ends of its long skips, ascending.
func linkedNodes(g *graph.Graph, r Range) []int {
	seen := map[int]bool{}
	for l := max(r.Lo-1, 0); l <= min(r.Hi+1, g.H()+1); l++ {
		seen[l] = true
	}
	for _, s := range g.Skips() {
		if r.Lo <= s.From && s.From <= r.Hi || r.Lo <= s.To && s.To <= r.Hi {
			seen[s.From], seen[s.To] = true, true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// checkBatch checks a batch's declared size against the setup's before anything is
// allocated: 1..MaxBatch rows, node 0's inputs rows x n_0, node H+1's labels one a row.
func checkBatch(m *message, n *spec.Run, r Range) error {
	switch {
	case m.Rows < 1 || m.Rows > n.Batch:
		return fmt.Errorf("batch %d of %d rows; the setup's max batch is %d", m.Seq, m.Rows, n.Batch)
	case r.Lo == 0 && int64(len(m.X)) != int64(sizeOf(n.Precision))*int64(m.Rows)*int64(n.Sizes[0]):
		return fmt.Errorf("batch %d: %d bytes of inputs for %d rows of %d %ss", m.Seq, len(m.X), m.Rows, n.Sizes[0], n.Precision.Type())
	case r.Lo != 0 && len(m.X) != 0:
		return fmt.Errorf("batch %d: inputs for a worker that does not host node 0", m.Seq)
	case r.Hi == n.Hidden()+1 && len(m.Labels) != m.Rows:
		return fmt.Errorf("batch %d: %d labels for %d rows", m.Seq, len(m.Labels), m.Rows)
	}
	return nil
}

// batchDeadlineOf is how long the coordinator waits for a batch's reports however
// often the workers' heartbeats come: ten heartbeat timeouts, and at least a minute, so
// that a worker that beats but never finishes (hung, or kept alive by a peer that
// should not) ends the run.
func batchDeadlineOf(timeout time.Duration) time.Duration {
	return max(10*timeout, time.Minute)
}
