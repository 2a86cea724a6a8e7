package pcnet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
)

// testConfig is a configuration of variant v for a network of h hidden nodes with T =
// steps, with values that exercise every variant's parameters: uneven precisions for
// Standard, K for VarianceScaled, gamma 1 where Z-IL needs it and 0.3 elsewhere.
func testConfig(v Variant, h, steps int) Config {
	cfg := Config{Variant: v, Steps: steps, Gamma: 0.3, K: 5}
	switch v {
	case ZeroDivergence:
		cfg.Gamma = 1
	case Standard:
		cfg.Precisions = make([]float64, h)
		for i := range cfg.Precisions {
			cfg.Precisions[i] = 0.5 + float64(i)
		}
	}
	return cfg
}

var testAdam = optim.Config{Kind: optim.Adam, LR: 0.01, Beta1: optim.DefaultBeta1, Beta2: optim.DefaultBeta2, Eps: optim.DefaultEps}

// TestEveryBatchEqualsAFreshNetwork: nothing a network keeps from one batch to the next
// (buffers kept by batch size, errors, states, counts) leaks into the next batch. Every
// batch of a run through one network, of different data and sizes, equals bit for bit
// the same batch on a fresh network that starts from the weights and optimiser states
// the run had before it: loss, updates, weights and optimiser states after it, and every
// statistic the observer is given.
func TestEveryBatchEqualsAFreshNetwork(t *testing.T) {
	const h = 3
	sizes := []int{20, 16, 12, 16, 10}
	rng := rand.New(rand.NewPCG(14, 3))
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	if err != nil {
		t.Fatal(err)
	}
	// The same size twice with different data, another size, and back to the first,
	// whose buffers then hold what the third batch's predecessor of that size left.
	batches := randomBatches(rng, sizes[0], sizes[len(sizes)-1], 64, 64, 17, 64)
	start := netState{layers: layers}
	for _, v := range Variants() {
		for _, eng := range engines {
			for _, rec := range []recording{{learn: false, observe: true}, {learn: true, observe: true}, {learn: true, observe: false}} {
				t.Run(fmt.Sprintf("%s/%s/learn=%v/observed=%v", v, eng, rec.learn, rec.observe), func(t *testing.T) {
					cfg := testConfig(v, h, h+1)
					cfg.Engine, cfg.Optimizer = eng, testAdam
					run := recordRun(t, cfg, start, batches, rec)
					from := start
					for b := range batches {
						fresh := recordRun(t, cfg, from, batches[b:b+1], rec)
						requireSameBatch(t, b, "one network", run[b], "a fresh network", fresh[0])
						from = run[b].after
					}
				})
			}
		}
	}
}
