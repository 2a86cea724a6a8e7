package pcnet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecorderKeepsEachNodesLastBatch: nodes in node order whatever the order they were
// announced in, a batch's steps replaced by the next batch's from its step 0 on (a
// cancelled batch leaves none behind), and Nodes a copy that the next batch leaves alone.
func TestRecorderKeepsEachNodesLastBatch(t *testing.T) {
	r := &Recorder{}
	obs := map[int]NodeObserver{}
	for _, l := range []int{3, 1, 2} { // a part's nodes, announced out of order
		obs[l] = r.Node(NodeInfo{Hidden: 3, Node: l, Distance: 4 - l})
	}
	obs[2].Step(StepStats{Step: 0, ErrorMaxAbs: 9})
	obs[2].Step(StepStats{Step: 1, ErrorMaxAbs: 8}) // a batch cancelled here
	for _, l := range []int{1, 2, 3} {
		for s := range 3 {
			obs[l].Step(StepStats{Step: s, ErrorMaxAbs: float64(10*l + s)})
		}
		obs[l].End(NodeStats{Steps: 2, VJPs: l})
	}
	r.Batch(BatchStats{Batch: 5, Loss: 0.25})

	got := r.Nodes()
	require.Len(t, got, 3)
	for i, n := range got {
		l := i + 1
		require.Equal(t, l, n.Node)
		require.Equal(t, NodeStats{Steps: 2, VJPs: l}, n.End)
		require.Equal(t, []StepStats{{0, float64(10 * l), 0, 0}, {1, float64(10*l + 1), 0, 0}, {2, float64(10*l + 2), 0, 0}}, n.Steps, "node %d", l)
	}
	require.Equal(t, 1, r.Batches())
	require.Equal(t, BatchStats{Batch: 5, Loss: 0.25}, r.Last())

	obs[1].Step(StepStats{Step: 0, ErrorMaxAbs: 99})
	require.Equal(t, 10.0, got[0].Steps[0].ErrorMaxAbs, "Nodes returned a copy")
	require.Equal(t, []StepStats{{Step: 0, ErrorMaxAbs: 99}}, r.Nodes()[0].Steps)
}
