package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestNeighbourPairEnginesAgree holds BenchmarkNeighbourPair's two engines to the same
// arithmetic: after the same number of steps both nodes hold bit-identical inputs, so the
// benchmark compares the cost of the same work.
func TestNeighbourPairEnginesAgree(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, steps := range []int{1, 2, 7} {
		seq, par := newPair(64), newPair(64)
		seq.sequential(steps)
		l, err := par.link()
		require.NoError(t, err)
		require.NoError(t, par.parallel(context.Background(), l, steps))
		for i := range seq.nodes {
			require.Equal(t, seq.nodes[i].in, par.nodes[i].in, "steps %d, node %d", steps, i)
		}
		require.NotEqual(t, newPair(64).nodes[0].in, seq.nodes[0].in, "steps %d: the pair did not compute", steps)
	}
}

// TestNeighbourPairCancelled: a cancelled pair stops both nodes and says why.
func TestNeighbourPairCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := newPair(64)
	l, err := p.link()
	require.NoError(t, err)
	require.ErrorIs(t, p.parallel(ctx, l, 3), context.Canceled)
}
