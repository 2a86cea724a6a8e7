package metrics

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// netSpec is a small network and the batches fed to it.
type netSpec struct {
	variant  pcnet.Variant
	engine   pcnet.Engine
	schedule pcnet.Schedule // zero: the default, event
	sizes    []int          // in, hidden..., out
	steps    int            // T
	batch    int
	seed     uint64
}

func (s netSpec) hidden() int { return len(s.sizes) - 2 }

// config is the spec's pcnet configuration: gamma 1 (which Z-IL requires, and under
// which FPA-PC converges in d steps exactly) except for standard PC; SGD with momentum
// 0.9, except for iPC, which learns during inference: with momentum its lower weights
// move before their error arrives (package pcnet's docs), so that Theorem 1 shows in
// its metrics only under plain SGD.
func (s netSpec) config(obs pcnet.Observer) pcnet.Config {
	gamma := 1.0
	if s.variant == pcnet.Standard {
		gamma = 0.5
	}
	momentum := 0.9
	if s.variant == pcnet.Incremental {
		momentum = 0
	}
	return pcnet.Config{
		Variant: s.variant, Steps: s.steps, Gamma: gamma, K: 4, Engine: s.engine, Schedule: s.schedule,
		MaxBatch: s.batch, Observer: obs,
		Optimizer: optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: momentum},
	}
}

// build returns a network for the spec, closed when the test ends.
func (s netSpec) build(t testing.TB, obs pcnet.Observer) *pcnet.Network[float64] {
	t.Helper()
	layers, err := layer.NewMLP[float64](s.sizes, layer.Tanh, rand.New(rand.NewPCG(s.seed, 1)))
	require.NoError(t, err)
	net, err := pcnet.New(context.Background(), layers, s.config(obs))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, net.Close()) })
	return net
}

// randomBatch returns a seeded batch of rows x cols features in [0, 1) and its labels.
func randomBatch(rows, cols, classes int, seed uint64) (*tensor.Matrix[float64], []int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := tensor.New[float64](rows, cols, nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	labels := make([]int, rows)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

// run feeds n batches to a network built for the spec, learning when learn is set.
func (s netSpec) run(t testing.TB, obs pcnet.Observer, n int, learn bool) {
	t.Helper()
	net := s.build(t, obs)
	in, out := s.sizes[0], s.sizes[len(s.sizes)-1]
	for i := range n {
		x, labels := randomBatch(s.batch, in, out, s.seed+uint64(i))
		var err error
		if learn {
			_, err = net.Learn(batchCtx(t), x, labels)
		} else {
			_, err = net.Infer(batchCtx(t), x, labels)
		}
		require.NoError(t, err)
	}
}

// newTestMetrics returns Metrics without the Go and process collectors, whose values no
// test can predict, on a pedantic registry of its own (which checks every collection).
func newTestMetrics(t testing.TB, maxStep int) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{MaxStep: maxStep, SkipGoAndProcessCollectors: true})
	require.NoError(t, err)
	return m, reg
}
