package pcnet

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/stretchr/testify/require"
)

// eventRun records batches of the fixture's network under cfg, observed, learning.
func (f *fixture) eventRun(t *testing.T, cfg Config, batches []testBatch) []batchRecord {
	t.Helper()
	return recordRun(t, cfg, netState{layers: f.layers}, batches, recording{learn: true, observe: true})
}

// fixtureBatches are batches of different data and sizes for the fixture's network.
func (f *fixture) fixtureBatches(seed uint64, sizes ...int) []testBatch {
	return randomBatches(rand.New(rand.NewPCG(seed, 1)), f.sizes[0], f.sizes[len(f.sizes)-1], sizes...)
}

// TestEventScheduleEqualsDenseBitForBit holds the event schedule to the dense one on
// the grid of the issue that introduced it: every variant, both engines, H in {1, 2, 4,
// 8, 16}, T in {0, 1, H-1, H, 2H}, gamma in {0.1, 0.5, 1} (Z-IL: 1), SGD with momentum
// and Adam, over batches of different data and sizes through one network: losses,
// updates, weights and optimiser states, every observer statistic, and the work counts
// once computed and skipped products are added up.
func TestEventScheduleEqualsDenseBitForBit(t *testing.T) {
	optimizers := []optim.Config{
		{Kind: optim.SGD, LR: 0.05, Momentum: 0.9},
		testAdam,
	}
	for _, h := range []int{1, 2, 4, 8, 16} {
		f := newBatchFixture(h, 7, 8)
		batches := f.fixtureBatches(uint64(h), 8, 5, 8)
		for _, v := range Variants() {
			for _, T := range uniq(0, 1, h-1, h, 2*h) {
				for _, gamma := range []float64{0.1, 0.5, 1} {
					if v == ZeroDivergence && gamma != 1 || v == Incremental && T == 0 {
						continue
					}
					for _, engine := range engines {
						opt := optimizers[(h+T)%2]
						name := fmt.Sprintf("%v/H=%d/T=%d/gamma=%v/%v/%v", v, h, T, gamma, engine, opt.Kind)
						t.Run(name, func(t *testing.T) {
							cfg := Config{Variant: v, Steps: T, Gamma: gamma, K: 4, Engine: engine, MaxBatch: 8, Optimizer: opt}
							cfg.Schedule = Dense
							dense := f.eventRun(t, cfg, batches)
							for _, r := range dense {
								for l, e := range r.ends {
									require.Zero(t, e.SkippedVJPs, "node %d: the dense schedule skips nothing", l)
									require.Equal(t, e.Up.Total(), e.Up.Messages[channels.Full], "node %d: the dense schedule sends every value", l)
									require.Equal(t, e.Down.Total(), e.Down.Messages[channels.Full], "node %d: the dense schedule sends every value", l)
								}
							}
							cfg.Schedule = Event
							event := f.eventRun(t, cfg, batches)
							requireSameBits(t, "dense", withoutWork(dense), "event", withoutWork(event))
						})
					}
				}
			}
		}
	}
}

func uniq(xs ...int) []int {
	var out []int
	seen := map[int]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// products sums the computed and skipped products of one batch over every node.
func products(r batchRecord) (computed, skipped int) {
	for _, e := range r.ends {
		computed += e.VJPs
		skipped += e.SkippedVJPs
	}
	return computed, skipped
}

func TestEventScheduleCountsBackpropsProducts(t *testing.T) {
	for _, h := range []int{1, 2, 4, 8, 16} {
		f := newBatchFixture(h, 3, 8)
		for _, T := range uniq(h, h+1, 2*h) {
			for _, engine := range engines {
				t.Run(fmt.Sprintf("H=%d/T=%d/%v", h, T, engine), func(t *testing.T) {
					cfg := Config{Variant: FixedPrediction, Steps: T, Gamma: 1, Engine: engine, MaxBatch: 8,
						Optimizer: optim.Config{Kind: optim.SGD, LR: 0.1}}
					for _, r := range f.eventRun(t, cfg, f.fixtureBatches(1, 8, 3)) {
						computed, skipped := products(r)
						require.Equal(t, 2*h+1, computed, "FPA, gamma 1, T >= H computes backprop's 2H+1 products")
						require.Equal(t, h*T+h+1, computed+skipped, "and skips the rest of the dense schedule's H·T+H+1")
					}
				})
			}
		}
	}
}

func TestEventScheduleSkipsTheProductsBeforeTheWavefront(t *testing.T) {
	for _, v := range []Variant{Standard, ZeroDivergence} {
		for _, h := range []int{1, 2, 4, 8} {
			f := newBatchFixture(h, 5, 8)
			t.Run(fmt.Sprintf("%v/H=%d", v, h), func(t *testing.T) {
				cfg := Config{Variant: v, Steps: h, Gamma: 1, Engine: Sequential, MaxBatch: 8,
					Optimizer: optim.Config{Kind: optim.SGD, LR: 0.1}}
				computed, skipped := products(f.eventRun(t, cfg, f.fixtureBatches(2, 8))[0])
				require.Equal(t, h*(h-1)/2, skipped, "the input VJPs of node l before step H-l")
				require.Equal(t, h*h+h+1, computed+skipped)
			})
		}
	}
}

func TestEventScheduleMessagesSayZeroAndUnchanged(t *testing.T) {
	// FPA, gamma 1, H = 2, T = 3: node 2's error is zero at t = 0 and full at t = 1,
	// then unchanged; node 1's is zero at t = 0, 1, full at t = 2, unchanged at 3. The
	// output's is full once, then unchanged.
	f := newBatchFixture(2, 9, 4)
	cfg := Config{Variant: FixedPrediction, Steps: 3, Gamma: 1, Engine: Parallel, MaxBatch: 8,
		Optimizer: optim.Config{Kind: optim.SGD, LR: 0.1}}
	r := f.eventRun(t, cfg, []testBatch{{f.x, f.labels}})[0]
	down := func(l int) [channels.NumPayloads]int { return r.ends[l].Down.Messages }
	require.Equal(t, [3]int{1, 0, 3}, down(3), "output node")
	require.Equal(t, [3]int{1, 1, 2}, down(2), "node 2")
	require.Equal(t, [3]int{1, 2, 1}, down(1), "node 1")
	rows, _ := f.x.Dims()
	require.Equal(t, 8*rows*f.sizes[3], r.ends[3].Down.Bytes, "only full messages carry bytes")
}

func TestNonFiniteIsTheSameErrorUnderBothSchedules(t *testing.T) {
	f := newBatchFixture(3, 11, 6)
	cases := []struct {
		name  string
		setup func(layers []*layer.Dense[float64])
		lr    float64
		want  string
	}{
		{"weight is +Inf", func(ls []*layer.Dense[float64]) { ls[1].W.Set(2, 3, math.Inf(1)) }, 0.1, "layer 1: W[2,3] = +Inf"},
		{"bias is NaN", func(ls []*layer.Dense[float64]) { ls[2].B[1] = math.NaN() }, 0.1, "layer 2: b[1] = NaN"},
		{"loss overflows", func(ls []*layer.Dense[float64]) {
			// tanh(100) is 1, so every logit is a sum of MaxFloat64s: +Inf.
			below, top := ls[len(ls)-2], ls[len(ls)-1]
			for i := range below.Out() {
				below.B[i] = 100
			}
			r, c := top.W.Dims()
			for i := range r {
				for j := range c {
					top.W.Set(i, j, math.MaxFloat64)
				}
			}
		}, 0.1, "the loss at the feed-forward values is NaN"},
		{"weights overflow when learning", nil, 0, "after the optimiser step"},
	}
	for _, tc := range cases {
		for _, engine := range engines {
			t.Run(fmt.Sprintf("%s/%v", tc.name, engine), func(t *testing.T) {
				var msgs []string
				for _, s := range []Schedule{Dense, Event} {
					layers := layer.CloneAll[float64](f.layers)
					if tc.setup != nil {
						tc.setup(layers)
					}
					opt := optim.Config{Kind: optim.SGD, LR: tc.lr}
					if tc.lr == 0 { // weight decay of 1e308 sends every weight past MaxFloat64
						opt = optim.Config{Kind: optim.SGD, LR: 10, WeightDecay: 1e308}
					}
					cfg := Config{Variant: FixedPrediction, Steps: 1, Gamma: 1, Engine: engine, Schedule: s, Optimizer: opt}
					net, err := New(context.Background(), layers, cfg)
					if err == nil {
						for range 3 {
							if _, err = net.Learn(batchCtx(t), f.x, f.labels); err != nil {
								break
							}
						}
						require.NoError(t, net.Close())
					}
					require.ErrorIs(t, err, ErrNonFinite)
					require.Contains(t, err.Error(), tc.want)
					msgs = append(msgs, err.Error())
				}
				require.Equal(t, msgs[0], msgs[1], "dense and event schedules")
			})
		}
	}
	t.Run("batch holds NaN", func(t *testing.T) {
		x := f.x.Clone()
		x.Set(4, 7, math.NaN())
		for _, s := range []Schedule{Dense, Event} {
			net, err := New(context.Background(), layer.CloneAll[float64](f.layers), Config{Variant: Standard, Steps: 2, Gamma: 0.5, Schedule: s})
			require.NoError(t, err)
			_, err = net.Infer(batchCtx(t), x, f.labels)
			require.ErrorIs(t, err, ErrNonFinite)
			require.Contains(t, err.Error(), "row 4, column 7 is NaN")
			require.NoError(t, net.Close())
		}
	})
}
