package pcnet

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
)

func snapshot(layers []*layer.Dense[float64]) [][]float64 {
	var out [][]float64
	for _, d := range layers {
		p := d.Params()
		out = append(out, append([]float64{}, p[0]...), append([]float64{}, p[1]...))
	}
	return out
}

// TestIncrementalInferIsStandardInferenceSummed: at frozen weights iPC's dynamics are
// standard PC's, so Infer's update is the sum of standard PC's updates at steps 0..T-1,
// bit for bit, and neither the weights nor the optimiser state move, even after Learn
// has filled Adam's moments.
func TestIncrementalInferIsStandardInferenceSummed(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.String(), func(t *testing.T) {
			const h, T = 3, 5
			f := newFixture(h, 21)
			cfg := Config{Variant: Incremental, Steps: T, Gamma: 0.4, Engine: eng, Optimizer: optim.DefaultAdam(0.01)}
			layers := layer.CloneAll[float64](f.layers)
			net, err := New(context.Background(), layers, cfg)
			require.NoError(t, err)
			defer net.Close()
			_, err = net.Learn(batchCtx(t), f.x, f.labels)
			require.NoError(t, err)
			weights := snapshot(layers)
			var moments [][]float64
			for l := range layers {
				for _, s := range net.Optimizers(l) {
					moments = append(moments, append([]float64{}, s.Buffers()[optim.BufExpAvg]...))
				}
			}

			_, err = net.Infer(batchCtx(t), f.x, f.labels)
			require.NoError(t, err)
			require.Equal(t, weights, snapshot(layers), "Infer moved the weights")
			i := 0
			for l := range layers {
				for _, s := range net.Optimizers(l) {
					require.Equal(t, moments[i], s.Buffers()[optim.BufExpAvg], "Infer moved layer %d's optimiser state", l)
					require.Equal(t, T, s.Steps(), "Infer took optimiser steps")
					i++
				}
			}

			// The same layers, now fixed, under standard PC stopped at each step t.
			frozen := &fixture{sizes: f.sizes, layers: layers, x: f.x, labels: f.labels}
			want := make([]*layer.Grad[float64], len(layers))
			for l := range want {
				want[l] = layer.NewGrad(layers[l])
			}
			for step := range T {
				for l, g := range frozen.infer(t, Config{Variant: Standard, Steps: step, Gamma: 0.4, Engine: eng}) {
					want[l].Add(g)
				}
			}
			for l, g := range net.Updates() {
				require.Equal(t, flat(want[l]), flat(g), "update of layer %d", l)
			}
		})
	}
}

// TestIncrementalLearnStepsTTimes: a batch makes T optimiser steps per layer, the
// unreached layers' included; with plain SGD the weights move by lr times the summed
// update.
func TestIncrementalLearnStepsTTimes(t *testing.T) {
	const h, T, lr = 2, 4, 0.05
	for _, eng := range engines {
		f := newFixture(h, 22)
		layers := layer.CloneAll[float64](f.layers)
		before := snapshot(layers)
		net, err := New(context.Background(), layers, Config{Variant: Incremental, Steps: T, Gamma: 0.5, Engine: eng,
			Optimizer: optim.Config{Kind: optim.SGD, LR: lr}})
		require.NoError(t, err)
		for b := 1; b <= 2; b++ {
			before = snapshot(layers)
			_, err = net.Learn(batchCtx(t), f.x, f.labels)
			require.NoError(t, err)
			for l := range layers {
				for _, s := range net.Optimizers(l) {
					require.Equal(t, b*T, s.Steps(), "%s: optimiser steps of layer %d after %d batches", eng, l, b)
				}
			}
		}
		after := snapshot(layers)
		for l, g := range net.Updates() {
			p := g.Params()
			for i := range 2 {
				for j, u := range p[i] {
					require.InDelta(t, before[2*l+i][j]+lr*u, after[2*l+i][j], 1e-12, "%s: layer %d tensor %d entry %d", eng, l, i, j)
				}
			}
		}
		require.NoError(t, net.Close())
	}
}

// firstNonzero runs batches through Learn and returns, per batch, the step at which each
// hidden node's error first was non-zero (-1: never), by node 1..H.
func firstNonzero(t *testing.T, cfg Config, h, batches int) [][]int {
	f := newFixture(h, 23)
	var runs []testBatch
	for range batches {
		runs = append(runs, testBatch{f.x, f.labels})
	}
	var out [][]int
	for _, r := range recordRun(t, cfg, netState{layers: f.layers}, runs, recording{learn: true, observe: true}) {
		first := make([]int, h)
		for l := 1; l <= h; l++ {
			first[l-1] = -1
			for _, s := range r.steps[l] {
				if s.ErrorMaxAbs != 0 {
					first[l-1] = s.Step
					break
				}
			}
		}
		out = append(out, first)
	}
	return out
}

// TestIncrementalTheorem1InItsMetrics: under plain SGD the error of the node at distance
// d first moves at step d in every batch, as the metrics report it. With momentum the
// lower weights keep moving along earlier batches' updates while their own update is
// still zero, so from the second batch on the errors move before their distance.
func TestIncrementalTheorem1InItsMetrics(t *testing.T) {
	const h, T = 3, 5
	for _, eng := range engines {
		for _, tc := range []struct {
			name  string
			opt   optim.Config
			early bool
		}{
			{"sgd", optim.Config{Kind: optim.SGD, LR: 0.1}, false},
			{"momentum", optim.Config{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}, true},
			{"adam", optim.DefaultAdam(0.01), true},
		} {
			t.Run(fmt.Sprintf("%s/%s", eng, tc.name), func(t *testing.T) {
				got := firstNonzero(t, Config{Variant: Incremental, Steps: T, Gamma: 0.5, Engine: eng, Optimizer: tc.opt}, h, 3)
				want := []int{3, 2, 1} // distances of nodes 1..3
				require.Equal(t, want, got[0], "first batch: no earlier update to carry")
				for b := 1; b < len(got); b++ {
					if !tc.early {
						require.Equal(t, want, got[b], "batch %d", b)
						continue
					}
					require.Less(t, got[b][0], want[0], "batch %d: node 1 moves before its distance", b)
				}
			})
		}
	}
}
