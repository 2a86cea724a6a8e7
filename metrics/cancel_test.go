package metrics

import (
	"testing"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/stretchr/testify/require"
)

// A batch cancelled part way ends without End (pcnet.NodeObserver); the next batch's
// outcome is its own: the cancelled batch's early error does not count as its first.
func TestCancelledBatchDoesNotCountInTheNext(t *testing.T) {
	m, _ := newTestMetrics(t, 4)
	o := m.Node(pcnet.NodeInfo{Variant: pcnet.Standard, Hidden: 2, Node: 1, Distance: 2})
	// The cancelled batch: an error already at step 0, then no End.
	o.Step(pcnet.StepStats{Step: 0, ErrorMaxAbs: 1, ChangeMaxAbs: 1})
	o.Step(pcnet.StepStats{Step: 1, ErrorMaxAbs: 1})
	// The next batch: the error arrives at step 2 and stays.
	for step, size := range []float64{0, 0, 0.5, 0.5} {
		change := 0.0
		if step == 2 {
			change = size
		}
		o.Step(pcnet.StepStats{Step: step, ErrorMaxAbs: size, ChangeMaxAbs: change})
	}
	o.End(pcnet.NodeStats{Steps: 3})
	sum := m.Summary()
	require.Len(t, sum, 1)
	require.Equal(t, 1, sum[0].Inferences)
	require.Equal(t, 2.0, sum[0].FirstNonzero)
	require.Equal(t, 2.0, sum[0].Convergence)
}
