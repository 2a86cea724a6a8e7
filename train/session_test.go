package train

import (
	"math"
	"testing"
	"time"

	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/stretchr/testify/require"
)

func TestEpochSummaryString(t *testing.T) {
	e := EpochInfo{
		Epoch: 1, TrainLoss: 0.23114, ValAccuracy: 0.94123, MeanCosine: 0.9999999999,
		Duration: 4100 * time.Millisecond, StepTime: 3 * time.Second, BPTime: 1200 * time.Millisecond, Compared: 860,
	}
	s := metrics.Summary{
		{Variant: pcnet.FixedPrediction, Distance: 1, Inferences: 860, FirstNonzero: 1, Convergence: 1},
		{Variant: pcnet.FixedPrediction, Distance: 2, Inferences: 860, FirstNonzero: 2, Convergence: math.NaN(), Unconverged: 860},
		{Variant: pcnet.Standard, Distance: 1, Inferences: 5, FirstNonzero: 9, Convergence: 9},
	}
	for _, tc := range []struct {
		name    string
		variant spec.Algorithm
		info    EpochInfo
		summary metrics.Summary
		want    string
	}{
		{"bp", spec.BP, e, nil, "epoch 2/3  loss 0.2311  val acc 94.12%  time 4.1s"},
		{"fpa", spec.FPA, e, s,
			"epoch 2/3  loss 0.2311  val acc 94.12%  cos(PC,BP) 1.000000  first-nonzero step d1:1 d2:2  converged d1:1 d2:-  unconverged d2:100%  time 4.1s (PC steps 3.0s, BP 1.2s on the 860 compared batches)"},
		{"not compared", spec.FPA, func() EpochInfo { e := e; e.Compared = 0; return e }(), nil,
			"epoch 2/3  loss 0.2311  val acc 94.12%  time 4.1s (PC steps 3.0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, EpochSummary{EpochInfo: tc.info, Epochs: 3, Algorithm: tc.variant, Convergence: tc.summary}.String())
		})
	}
}
