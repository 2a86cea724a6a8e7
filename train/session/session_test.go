package session

import (
	"context"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEpochSummaryString(t *testing.T) {
	e := train.EpochInfo{
		Epoch: 1, TrainLoss: 0.23114, ValAccuracy: 0.94123, MeanCosine: 0.9999999999,
		Duration: 4100 * time.Millisecond, StepTime: 3 * time.Second, BPTime: 1200 * time.Millisecond, Compared: 860,
		MeanLayerCosine: []float64{0.5, 0.12, 0.9999999},
	}
	cores := strconv.Itoa(runtime.GOMAXPROCS(0))
	s := metrics.Summary{
		{Variant: pcnet.FixedPrediction, Distance: 1, Inferences: 860, FirstNonzero: 1, Convergence: 1},
		{Variant: pcnet.FixedPrediction, Distance: 2, Inferences: 860, FirstNonzero: 2, Convergence: math.NaN(), Unconverged: 860},
		{Variant: pcnet.Standard, Distance: 1, Inferences: 5, FirstNonzero: 9, Convergence: 9},
	}
	for _, tc := range []struct {
		name    string
		variant spec.Algorithm
		info    train.EpochInfo
		summary metrics.Summary
		want    string
	}{
		{"bp", spec.BP, e, nil, "epoch 2/3  loss 0.2311  val acc 94.12%  time 4.1s"},
		{"fpa", spec.FPA, e, s,
			"epoch 2/3  loss 0.2311  val acc 94.12%  cos(PC,BP) 1.000000 (min 0.12000 at layer 2)  first-nonzero step d1:1 d2:2  converged d1:1 d2:-  unconverged d2:100%  time 4.1s (PC steps 3.0s on the parallel engine, BP steps 1.2s on the 860 compared batches, " + cores + " cores)"},
		{"not compared", spec.FPA, func() train.EpochInfo { e := e; e.Compared = 0; return e }(), nil,
			"epoch 2/3  loss 0.2311  val acc 94.12%  time 4.1s (PC steps 3.0s on the parallel engine, " + cores + " cores)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, EpochSummary{EpochInfo: tc.info, Epochs: 3, Algorithm: tc.variant, Engine: "parallel", Convergence: tc.summary}.String())
		})
	}
}

// saves records the positions a Session asks to checkpoint.
type saves []train.Position

func (s *saves) Save(_ context.Context, _ train.Learner[float64], pos train.Position) error {
	*s = append(*s, pos)
	return nil
}

// TestSessionTrainSavesEveryEpochAndReportsIt runs a small backprop and FPA run on
// synthetic data: the checkpoint is written at the start and after every epoch, every
// epoch is reported once, and the metrics count every sample.
func TestSessionTrainSavesEveryEpochAndReportsIt(t *testing.T) {
	data := mnist.SyntheticSplits(96, 32, 32, 12, 3, 5)
	for _, alg := range []spec.Algorithm{spec.BP, spec.FPA} {
		t.Run(alg.String(), func(t *testing.T) {
			r := spec.Default()
			r.Sizes, r.Algorithm, r.Batch, r.Epochs, r.PC.Steps = []int{12, 8, 3}, alg, 32, 2, 1
			layers, err := r.InitialLayers()
			require.NoError(t, err)
			learner, err := train.New(context.Background(), &r, layer.AsMaps(layers), nil)
			require.NoError(t, err)
			defer learner.Close()
			reg := prometheus.NewRegistry()
			m, err := metrics.New(reg, metrics.Options{})
			require.NoError(t, err)
			var saved saves
			var epochs []EpochSummary
			s := &Session[float64]{Run: &r, Learner: withDeadline(t, learner), Metrics: m, Saver: &saved, CosineEvery: 1,
				OnEpoch: func(e EpochSummary) { epochs = append(epochs, e) }}
			res, err := s.Train(context.Background(), data, train.Position{})
			require.NoError(t, err)
			require.Equal(t, saves{{}, {Epoch: 1, Samples: 96}, {Epoch: 2, Samples: 192}}, saved)
			require.Equal(t, train.Position{Epoch: 2, Samples: 192}, res.Position)
			require.Len(t, epochs, 2)
			require.Equal(t, alg.IsPC(), epochs[1].Compared > 0, "only PC is compared with BP")
			require.InDelta(t, 0.5, res.TestAccuracy, 0.5)
			require.Equal(t, 192.0, counter(t, reg, "pcnet_train_samples_total"), "samples counted")
		})
	}
}

// counter returns the value of the counter name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
