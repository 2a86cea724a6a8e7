package metrics

import (
	"context"
	"fmt"
	"testing"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// tee is an Observer that hands everything to each of its observers in turn.
type tee []pcnet.Observer

func (o tee) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	var ns teeNode
	for _, c := range o {
		if n := c.Node(info); n != nil {
			ns = append(ns, n)
		}
	}
	return ns
}

func (o tee) Batch(s pcnet.BatchStats) {
	for _, c := range o {
		c.Batch(s)
	}
}

type teeNode []pcnet.NodeObserver

func (ns teeNode) Step(s pcnet.StepStats) {
	for _, n := range ns {
		n.Step(s)
	}
}

func (ns teeNode) End(s pcnet.NodeStats) {
	for _, n := range ns {
		n.End(s)
	}
}

// TestEnergySeries: the energy gauges hold F(0), F(T) and (F(0) - F(T))/T of the last
// batch, as a Recorder's trace of the same batches has them, per variant.
func TestEnergySeries(t *testing.T) {
	for _, tc := range []struct {
		variant pcnet.Variant
		steps   int
	}{
		{pcnet.Standard, 12},
		{pcnet.FixedPrediction, 3},
		{pcnet.Standard, 0},
	} {
		t.Run(fmt.Sprintf("%v/T=%d", tc.variant, tc.steps), func(t *testing.T) {
			m, _ := newTestMetrics(t, 0)
			rec := &pcnet.Recorder{}
			spec := netSpec{variant: tc.variant, engine: pcnet.Sequential, sizes: []int{6, 5, 4, 3}, steps: tc.steps, batch: 4, seed: 40}
			net := spec.build(t, tee{m, rec})
			v := tc.variant.String()
			for i := range 3 {
				x, labels := randomBatch(spec.batch, 6, 3, uint64(50+i))
				loss, err := net.Learn(context.Background(), x, labels)
				require.NoError(t, err)
				tr, err := pcnet.Energy(rec.Nodes())
				require.NoError(t, err)
				first, last := tr.Total[0], tr.Total[tc.steps]
				require.Equal(t, loss, first, "F(0) is the feed-forward loss")
				require.Equal(t, first, testutil.ToFloat64(m.energy.WithLabelValues(v, "first")), "batch %d", i)
				require.Equal(t, last, testutil.ToFloat64(m.energy.WithLabelValues(v, "last")), "batch %d", i)
				drop := testutil.ToFloat64(m.energyDrop.WithLabelValues(v))
				if tc.steps == 0 {
					require.Zero(t, drop)
					continue
				}
				require.Equal(t, (first-last)/float64(tc.steps), drop, "batch %d", i)
				if tc.variant == pcnet.Standard {
					// FPA-PC does not descend F: its errors grow while E stays put.
					require.Positive(t, drop, "inference lowered the energy")
				}
			}
		})
	}
}
