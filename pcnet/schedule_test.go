package pcnet

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// recorder keeps every observer report of a network, except the clocks.
type recorder struct {
	steps [][]StepStats // by node
	ends  [][]NodeStats // by node, Compute and Wait zeroed
}

func newRecorder(h int) *recorder {
	return &recorder{steps: make([][]StepStats, h+2), ends: make([][]NodeStats, h+2)}
}

func (r *recorder) Node(info NodeInfo) NodeObserver { return recorderNode{r, info.Node} }
func (r *recorder) Batch(BatchStats)                {}

type recorderNode struct {
	r *recorder
	l int
}

func (n recorderNode) Step(s StepStats) { n.r.steps[n.l] = append(n.r.steps[n.l], s) }
func (n recorderNode) End(s NodeStats) {
	s.Compute, s.Wait = 0, 0
	n.r.ends[n.l] = append(n.r.ends[n.l], s)
}

// trace is everything observable of a few batches: the loss and the updates of each, the
// weights at the end, and what the observer saw.
type trace struct {
	losses  []float64
	updates [][]float64 // per batch, every layer's update concatenated
	weights []float64
	rec     *recorder
}

// runTrace learns from batches of the fixture's data (the same batch with rows rotated,
// so each differs) and records everything.
func (f *fixture) runTrace(t *testing.T, cfg Config, batches int) *trace {
	t.Helper()
	h := len(f.layers) - 1
	tr := &trace{rec: newRecorder(h)}
	cfg.Observer = tr.rec
	net, err := New(context.Background(), layer.CloneAll(f.layers), cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	for b := range batches {
		bx, labels := f.rotated(b)
		loss, err := net.Learn(context.Background(), bx, labels)
		require.NoError(t, err)
		tr.losses = append(tr.losses, loss)
		var u []float64
		for _, g := range net.Updates() {
			u = append(u, flat(g)...)
		}
		tr.updates = append(tr.updates, u)
	}
	for _, d := range net.Layers() {
		p := d.Params()
		tr.weights = append(append(tr.weights, p[0]...), p[1]...)
	}
	return tr
}

// rotated returns batch b of a stream made from the fixture's batch: its rows rotated by
// b, one row fewer on odd b (so that batch sizes change too).
func (f *fixture) rotated(b int) (*mat.Dense, []int) {
	rows, cols := f.x.Dims()
	n := rows - b%2
	x := mat.NewDense(n, cols, nil)
	labels := make([]int, n)
	for i := range n {
		src := (i + b) % rows
		x.SetRow(i, f.x.RawRowView(src))
		labels[i] = f.labels[src]
	}
	return x, labels
}

func mat64Copy(f *fixture) *mat.Dense { return mat.DenseCopyOf(f.x) }

// requireSameBits fails at the first value whose bits differ, naming it.
func requireSameBits(t *testing.T, what string, want, got []float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
			t.Fatalf("%s[%d]: dense %v (%#x), event %v (%#x)", what, i, want[i], math.Float64bits(want[i]), got[i], math.Float64bits(got[i]))
		}
	}
}

func requireSameTrace(t *testing.T, dense, event *trace) {
	t.Helper()
	requireSameBits(t, "losses", dense.losses, event.losses)
	for b := range dense.updates {
		requireSameBits(t, fmt.Sprintf("batch %d: updates", b), dense.updates[b], event.updates[b])
	}
	requireSameBits(t, "weights after learning", dense.weights, event.weights)
	for l := range dense.rec.steps {
		d, e := dense.rec.steps[l], event.rec.steps[l]
		require.Len(t, e, len(d), "node %d: observed steps", l)
		for i := range d {
			requireSameBits(t, fmt.Sprintf("node %d, report %d (step %d): max|e|, max|Δe|", l, i, d[i].Step),
				[]float64{float64(d[i].Step), d[i].ErrorMaxAbs, d[i].ChangeMaxAbs},
				[]float64{float64(e[i].Step), e[i].ErrorMaxAbs, e[i].ChangeMaxAbs})
		}
		for i := range dense.rec.ends[l] {
			ds, es := dense.rec.ends[l][i], event.rec.ends[l][i]
			require.Equal(t, ds.VJPs+ds.SkippedVJPs, es.VJPs+es.SkippedVJPs, "node %d batch %d: products computed + skipped", l, i)
			require.Zero(t, ds.SkippedVJPs, "node %d: the dense schedule skips nothing", l)
			require.Equal(t, ds.Up.Total(), es.Up.Total(), "node %d: messages up", l)
			require.Equal(t, ds.Down.Total(), es.Down.Total(), "node %d: messages down", l)
		}
	}
}

func TestEventScheduleEqualsDenseBitForBit(t *testing.T) {
	optimizers := []optim.Config{
		{Kind: optim.SGD, LR: 0.05, Momentum: 0.9},
		{Kind: optim.Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
	}
	for _, h := range []int{1, 2, 4, 8, 16} {
		f := newBatchFixture(h, 7, 8)
		for _, v := range Variants() {
			for _, T := range uniq(0, 1, h-1, h, 2*h) {
				for _, gamma := range []float64{0.1, 0.5, 1} {
					if v == ZeroDivergence && gamma != 1 {
						continue
					}
					for _, engine := range engines {
						opt := optimizers[(h+T)%2]
						name := fmt.Sprintf("%v/H=%d/T=%d/gamma=%v/%v/%v", v, h, T, gamma, engine, opt.Kind)
						t.Run(name, func(t *testing.T) {
							cfg := Config{Variant: v, Steps: T, Gamma: gamma, K: 4, Engine: engine, MaxBatch: 8, Optimizer: opt}
							cfg.Schedule = Dense
							dense := f.runTrace(t, cfg, 3)
							cfg.Schedule = Event
							event := f.runTrace(t, cfg, 3)
							requireSameTrace(t, dense, event)
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
func products(r *recorder, batch int) (computed, skipped int) {
	for _, ends := range r.ends {
		computed += ends[batch].VJPs
		skipped += ends[batch].SkippedVJPs
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
					tr := f.runTrace(t, cfg, 2)
					for b := range 2 {
						computed, skipped := products(tr.rec, b)
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
				tr := f.runTrace(t, cfg, 1)
				computed, skipped := products(tr.rec, 0)
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
	tr := f.runTrace(t, cfg, 1)
	down := func(l int) [channels.NumPayloads]int { return tr.rec.ends[l][0].Down.Messages }
	require.Equal(t, [3]int{1, 0, 3}, down(3), "output node")
	require.Equal(t, [3]int{1, 1, 2}, down(2), "node 2")
	require.Equal(t, [3]int{1, 2, 1}, down(1), "node 1")
	rows, _ := f.x.Dims()
	require.Equal(t, 8*rows*f.sizes[3], tr.rec.ends[3][0].Down.Bytes, "only full messages carry bytes")
}

func TestNonFiniteIsTheSameErrorUnderBothSchedules(t *testing.T) {
	f := newBatchFixture(3, 11, 6)
	cases := []struct {
		name  string
		setup func(layers []*layer.Dense)
		lr    float64
		want  string
	}{
		{"weight is +Inf", func(ls []*layer.Dense) { ls[1].W.Set(2, 3, math.Inf(1)) }, 0.1, "layer 1: W[2,3] = +Inf"},
		{"bias is NaN", func(ls []*layer.Dense) { ls[2].B.SetVec(1, math.NaN()) }, 0.1, "layer 2: b[1] = NaN"},
		{"loss overflows", func(ls []*layer.Dense) {
			// tanh(100) is 1, so every logit is a sum of MaxFloat64s: +Inf.
			below, top := ls[len(ls)-2], ls[len(ls)-1]
			for i := range below.Out() {
				below.B.SetVec(i, 100)
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
					layers := layer.CloneAll(f.layers)
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
							if _, err = net.Learn(context.Background(), f.x, f.labels); err != nil {
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
		x := mat64Copy(f)
		x.Set(4, 7, math.NaN())
		for _, s := range []Schedule{Dense, Event} {
			net, err := New(context.Background(), layer.CloneAll(f.layers), Config{Variant: Standard, Steps: 2, Gamma: 0.5, Schedule: s})
			require.NoError(t, err)
			_, err = net.Infer(context.Background(), x, f.labels)
			require.ErrorIs(t, err, ErrNonFinite)
			require.Contains(t, err.Error(), "row 4, column 7 is NaN")
			require.NoError(t, net.Close())
		}
	})
}
