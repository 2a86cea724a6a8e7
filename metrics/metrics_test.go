package metrics

import (
	"math"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		reg  prometheus.Registerer
		opts Options
		want string
	}{
		{"nil registry", nil, Options{}, "needs a prometheus.Registerer"},
		{"negative max step", prometheus.NewRegistry(), Options{MaxStep: -1}, "MaxStep = -1"},
		{"huge max step", prometheus.NewRegistry(), Options{MaxStep: 1 << 20}, "MaxStep = 1048576"},
		{"tolerance of one", prometheus.NewRegistry(), Options{ConvergenceTolerance: 1}, "ConvergenceTolerance = 1"},
		{"negative tolerance", prometheus.NewRegistry(), Options{ConvergenceTolerance: -1e-3}, "ConvergenceTolerance = -0.001"},
		{"NaN tolerance", prometheus.NewRegistry(), Options{ConvergenceTolerance: math.NaN()}, "ConvergenceTolerance = NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.reg, tt.opts)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNewTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(reg, Options{})
	require.NoError(t, err)
	_, err = New(reg, Options{})
	require.ErrorContains(t, err, "register pcnet_error_first_nonzero_step")
	require.ErrorContains(t, err, "one metrics.Metrics per registry")
}

func TestNewLeavesTheRegistryAsItWasOnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "pcnet_train_epoch", Help: "not ours"})
	reg.MustRegister(clash)
	_, err := New(reg, Options{SkipGoAndProcessCollectors: true})
	require.ErrorContains(t, err, "register pcnet_train_epoch")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1, "only the clashing counter is left")
}

func TestNewKeepsExistingGoCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	_, err := New(reg, Options{})
	require.NoError(t, err)
}

func TestStepBuckets(t *testing.T) {
	m, reg := newTestMetrics(t, 3)
	m.Node(pcnet.NodeInfo{Variant: pcnet.Standard, Hidden: 1, Node: 1, Distance: 1})
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var bounds []float64
	for _, mf := range mfs {
		if mf.GetName() == "pcnet_error_first_nonzero_step" {
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
		}
	}
	require.Equal(t, []float64{0, 1, 2, 3}, bounds)
}

func TestTrainingSetters(t *testing.T) {
	m, reg := newTestMetrics(t, 4)
	require.NoError(t, m.SetLoss(SplitTrain, 0.5))
	require.NoError(t, m.SetLoss(SplitValidation, 0.25))
	require.NoError(t, m.SetAccuracy(SplitTest, 0.875))
	require.NoError(t, m.SetAccuracy(SplitValidation, math.NaN()))
	m.SetEpoch(3)
	require.NoError(t, m.AddSamples(64))
	require.NoError(t, m.AddSamples(0))
	require.NoError(t, m.SetCosine(pcnet.FixedPrediction, AllLayers, 1))
	require.NoError(t, m.SetCosine(pcnet.Standard, 2, -0.5))
	require.NoError(t, m.SetCosine(pcnet.Standard, 0, math.NaN()))
	require.NoError(t, m.SetNormRatio(pcnet.Standard, 0, 0))
	require.NoError(t, m.SetNormRatio(pcnet.FixedPrediction, AllLayers, 1))
	const want = `
# HELP pcnet_train_accuracy_ratio Classification accuracy reported by the trainer, by split, in [0, 1].
# TYPE pcnet_train_accuracy_ratio gauge
pcnet_train_accuracy_ratio{split="test"} 0.875
pcnet_train_accuracy_ratio{split="validation"} NaN
# HELP pcnet_train_epoch Training epochs completed.
# TYPE pcnet_train_epoch gauge
pcnet_train_epoch 3
# HELP pcnet_train_loss Loss reported by the trainer, by split.
# TYPE pcnet_train_loss gauge
pcnet_train_loss{split="train"} 0.5
pcnet_train_loss{split="validation"} 0.25
# HELP pcnet_train_samples_total Training examples learned from.
# TYPE pcnet_train_samples_total counter
pcnet_train_samples_total 64
# HELP pcnet_update_bp_cosine_ratio Cosine similarity in [-1, 1] of the PC weight update to backprop's, per weight layer, and over all layers concatenated as layer="all"; set when the trainer computes it.
# TYPE pcnet_update_bp_cosine_ratio gauge
pcnet_update_bp_cosine_ratio{layer="0",variant="pc"} NaN
pcnet_update_bp_cosine_ratio{layer="2",variant="pc"} -0.5
pcnet_update_bp_cosine_ratio{layer="all",variant="fpa"} 1
# HELP pcnet_update_bp_norm_ratio Norm of the PC weight update over the norm of backprop's (||PC|| / ||BP||), per weight layer, and over all layers as layer="all": which layers learn, and how much; 0 for a layer whose update is zero; set when the trainer computes it.
# TYPE pcnet_update_bp_norm_ratio gauge
pcnet_update_bp_norm_ratio{layer="0",variant="pc"} 0
pcnet_update_bp_norm_ratio{layer="all",variant="fpa"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"pcnet_train_accuracy_ratio", "pcnet_train_epoch", "pcnet_train_loss", "pcnet_train_samples_total", "pcnet_update_bp_cosine_ratio",
		"pcnet_update_bp_norm_ratio"))

	bad := []struct {
		name string
		err  error
		want string
	}{
		{"unknown split", m.SetLoss("dev", 1), `split "dev"`},
		{"empty split", m.SetAccuracy("", 0.5), `split ""`},
		{"percentage", m.SetAccuracy(SplitTest, 97.5), "ratio in [0, 1]"},
		{"negative samples", m.AddSamples(-1), "AddSamples(-1)"},
		{"unknown variant", m.SetCosine(pcnet.Variant(9), 0, 0.5), "unknown variant"},
		{"layer below", m.SetCosine(pcnet.Standard, -2, 0.5), "layer -2"},
		{"layer beyond", m.SetCosine(pcnet.Standard, maxLayer+1, 0.5), "layer 1024"},
		{"not a cosine", m.SetCosine(pcnet.Standard, 1, 1.5), "[-1, 1]"},
		{"negative ratio", m.SetNormRatio(pcnet.Standard, 1, -0.5), ">= 0"},
		{"ratio layer beyond", m.SetNormRatio(pcnet.Standard, maxLayer+1, 0.5), "layer 1024"},
		{"ratio unknown variant", m.SetNormRatio(pcnet.Variant(9), 0, 0.5), "unknown variant"},
	}
	for _, b := range bad {
		require.ErrorContains(t, b.err, b.want, b.name)
	}
	// The failed calls created no series.
	require.Equal(t, 2, testutil.CollectAndCount(m.loss))
	require.Equal(t, 3, testutil.CollectAndCount(m.cosine))
	require.Equal(t, 2, testutil.CollectAndCount(m.ratio))
}

// Every series, the Go and process collectors included, passes client_golang's linter
// once every kind of series exists.
func TestGatherAndLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{})
	require.NoError(t, err)
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.ZeroDivergence} {
		netSpec{variant: v, engine: pcnet.Parallel, sizes: []int{6, 5, 4, 3}, steps: 1, batch: 4, seed: 21}.run(t, m, 2, true)
		require.NoError(t, m.SetCosine(v, AllLayers, 0.9))
		require.NoError(t, m.SetCosine(v, 0, 0.8))
	}
	require.NoError(t, m.SetLoss(SplitTrain, 1))
	require.NoError(t, m.SetAccuracy(SplitValidation, 0.5))
	m.SetEpoch(1)
	require.NoError(t, m.AddSamples(8))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", "pcnet_error_unreached_total", "pcnet_update_bp_cosine_ratio"} {
		require.True(t, names[want], "%s is gathered", want)
	}
}
