package pcnet

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/stretchr/testify/require"
)

// refIPC is incremental PC (docs/design.md §8) written out again with plain loops over
// float64 slices, sharing no code with the runtime: an MLP with tanh hidden layers and
// an identity top under NLL, SGD with optional momentum. It is the independent
// reference the iPC tests below hold the runtime to; the runtime's tanh is within 2 ulp
// of math.Tanh and its products sum in another order, hence a tolerance, not bits.
type refIPC struct {
	w, b     [][][]float64 // w[l] is Out x In; b[l] is a 1 x Out row
	tanh     []bool        // layer l's activation: tanh, else identity
	pi       []float64     // pi_0..pi_{H+1}; the input's and the output's are 1
	gamma    float64
	steps    int
	lr, mom  float64
	bufW     [][][]float64 // momentum buffers, nil before the first step
	bufB     [][][]float64
	errorMax [][]float64 // the last batch's max|e_l(t)|, by node 1..H, t = 0..T
}

func newRefIPC(layers []*layer.Dense[float64], cfg Config) *refIPC {
	h := len(layers) - 1
	r := &refIPC{gamma: cfg.Gamma, steps: cfg.Steps, lr: cfg.Optimizer.LR, mom: cfg.Optimizer.Momentum}
	r.pi = make([]float64, h+2)
	for l := range r.pi {
		r.pi[l] = 1
		if l >= 1 && l <= h && cfg.Precisions != nil {
			r.pi[l] = cfg.Precisions[l-1]
		}
	}
	for l, d := range layers {
		w := make([][]float64, d.Out())
		for i := range w {
			w[i] = make([]float64, d.In())
			for j := range w[i] {
				w[i][j] = d.W.At(i, j)
			}
		}
		b := [][]float64{make([]float64, d.Out())}
		for i := range b[0] {
			b[0][i] = d.B[i]
		}
		r.w, r.b = append(r.w, w), append(r.b, b)
		r.tanh = append(r.tanh, l < h)
	}
	r.bufW, r.bufB = make([][][]float64, h+1), make([][][]float64, h+1)
	return r
}

func zeros(rows, cols int) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
	}
	return m
}

// forward returns f_l(v) and f_l'(v) (the activation's derivative at the pre-activation).
func (r *refIPC) forward(l int, v [][]float64) (out, deriv [][]float64) {
	w, b := r.w[l], r.b[l][0]
	out, deriv = zeros(len(v), len(w)), zeros(len(v), len(w))
	for n := range v {
		for i := range w {
			a := b[i]
			for j := range w[i] {
				a += w[i][j] * v[n][j]
			}
			out[n][i], deriv[n][i] = a, 1
			if r.tanh[l] {
				out[n][i] = math.Tanh(a)
				deriv[n][i] = 1 - out[n][i]*out[n][i]
			}
		}
	}
	return out, deriv
}

// negGrad is -dE/dz of NLL averaged over the batch: (onehot(y) - softmax(z)) / B.
func negGrad(z [][]float64, labels []int) [][]float64 {
	out := zeros(len(z), len(z[0]))
	for n, row := range z {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - m)
		}
		for j, v := range row {
			out[n][j] = -math.Exp(v-m) / sum / float64(len(z))
		}
		out[n][labels[n]] += 1 / float64(len(z))
	}
	return out
}

// batch runs one batch of iPC and returns the summed updates of every layer (W, b).
func (r *refIPC) batch(x [][]float64, labels []int, learn bool) (updW, updB [][][]float64) {
	h := len(r.w) - 1
	states := make([][][]float64, h+2) // x_0..x_{H+1}: x_{H+1} is the output's prediction
	derivs := make([][][]float64, h+1)
	states[0] = x
	for l := 0; l <= h; l++ {
		states[l+1], derivs[l] = r.forward(l, states[l])
	}
	preds := make([][][]float64, h+2) // p_l(t), l = 1..H+1
	for l := 1; l <= h+1; l++ {
		preds[l] = states[l]
	}
	for l := 0; l <= h; l++ {
		updW, updB = append(updW, zeros(len(r.w[l]), len(r.w[l][0]))), append(updB, zeros(1, len(r.b[l][0])))
	}
	r.errorMax = make([][]float64, h+2)
	for t := 0; t <= r.steps; t++ {
		errs := make([][][]float64, h+2)
		errs[h+1] = negGrad(preds[h+1], labels)
		for l := 1; l <= h; l++ {
			errs[l] = zeros(len(x), len(states[l][0]))
			var m float64
			for n := range errs[l] {
				for i := range errs[l][n] {
					errs[l][n][i] = states[l][n][i] - preds[l][n][i]
					m = math.Max(m, math.Abs(errs[l][n][i]))
				}
			}
			r.errorMax[l] = append(r.errorMax[l], m)
		}
		if t == r.steps {
			break
		}
		// Every node takes its products at step t's point and weights, then moves.
		stepW, stepB, jte := make([][][]float64, h+1), make([][][]float64, h+1), make([][][]float64, h+1)
		for l := 0; l <= h; l++ {
			rows, cols := len(r.w[l]), len(r.w[l][0])
			stepW[l], stepB[l], jte[l] = zeros(rows, cols), zeros(1, rows), zeros(len(x), cols)
			for n := range x {
				for i := range rows {
					delta := derivs[l][n][i] * r.pi[l+1] * errs[l+1][n][i]
					stepB[l][0][i] += delta
					for j := range cols {
						stepW[l][i][j] += delta * states[l][n][j]
						jte[l][n][j] += delta * r.w[l][i][j]
					}
				}
			}
		}
		for l := 1; l <= h; l++ {
			for n := range x {
				for i := range states[l][n] {
					states[l][n][i] -= r.gamma * (r.pi[l]*errs[l][n][i] - jte[l][n][i])
				}
			}
		}
		for l := 0; l <= h; l++ {
			addInto(updW[l], stepW[l])
			addInto(updB[l], stepB[l])
			if learn {
				r.bufW[l] = r.descend(r.w[l], stepW[l], r.bufW[l])
				r.bufB[l] = r.descend(r.b[l], stepB[l], r.bufB[l])
			}
			preds[l+1], derivs[l] = r.forward(l, states[l])
		}
	}
	return updW, updB
}

func addInto(dst, src [][]float64) {
	for i := range dst {
		for j := range dst[i] {
			dst[i][j] += src[i][j]
		}
	}
}

// descend moves p along the update u (an ascent direction) by SGD with momentum,
// returning the momentum buffer.
func (r *refIPC) descend(p, u, buf [][]float64) [][]float64 {
	first := buf == nil
	if first {
		buf = zeros(len(u), len(u[0]))
	}
	for i := range p {
		for j := range p[i] {
			if first || r.mom == 0 {
				buf[i][j] = u[i][j]
			} else {
				buf[i][j] = r.mom*buf[i][j] + u[i][j]
			}
			p[i][j] += r.lr * buf[i][j]
		}
	}
	return buf
}

func rowsOf(g [][]float64) []float64 {
	var out []float64
	for _, r := range g {
		out = append(out, r...)
	}
	return out
}

// errorMaxRecorder keeps max|e_l(t)| of every hidden node for one batch.
type errorMaxRecorder struct{ byNode [][]float64 }

func (o *errorMaxRecorder) Node(info NodeInfo) NodeObserver {
	if o.byNode == nil {
		o.byNode = make([][]float64, info.Hidden+2)
	}
	return errorMaxNode{o, info.Node}
}
func (o *errorMaxRecorder) Batch(BatchStats) {}

type errorMaxNode struct {
	o *errorMaxRecorder
	l int
}

func (n errorMaxNode) Step(s StepStats) { n.o.byNode[n.l] = append(n.o.byNode[n.l], s.ErrorMaxAbs) }
func (n errorMaxNode) End(NodeStats)    {}

// TestIncrementalMatchesAnIndependentImplementation holds iPC to refIPC on a small
// network: uneven precisions, plain SGD and momentum, T from 1 to past the wavefront,
// three batches of different sizes through one network (so momentum carries over), both
// engines and schedules, Learn and Infer. After every batch: the weights, the summed
// update, every hidden node's max|e_l(t)| at every step, and T optimiser steps per
// layer per learned batch.
func TestIncrementalMatchesAnIndependentImplementation(t *testing.T) {
	const h = 3
	f := newBatchFixture(h, 51, 5)
	batches := f.fixtureBatches(51, 5, 3, 5)
	for _, T := range []int{1, 2, h + 2} {
		for _, opt := range []optim.Config{{Kind: optim.SGD, LR: 0.2}, {Kind: optim.SGD, LR: 0.1, Momentum: 0.9}} {
			for _, sched := range []Schedule{Event, Dense} {
				for _, eng := range engines {
					for _, learn := range []bool{true, false} {
						name := fmt.Sprintf("T=%d/momentum=%v/%v/%v/learn=%v", T, opt.Momentum, sched, eng, learn)
						t.Run(name, func(t *testing.T) {
							obs := &errorMaxRecorder{}
							cfg := Config{Variant: Incremental, Steps: T, Gamma: 0.4, Precisions: []float64{0.5, 1.5, 2},
								Engine: eng, Schedule: sched, MaxBatch: 5, Optimizer: opt, Observer: obs}
							layers := layer.CloneAll[float64](f.layers)
							ref := newRefIPC(layers, cfg)
							net, err := New(context.Background(), layers, cfg)
							require.NoError(t, err)
							defer func() { require.NoError(t, net.Close()) }()
							for b, bt := range batches {
								rows, _ := bt.x.Dims()
								x := zeros(rows, f.sizes[0])
								for n := range x {
									for j := range x[n] {
										x[n][j] = bt.x.At(n, j)
									}
								}
								for l := range obs.byNode {
									obs.byNode[l] = nil
								}
								run := net.Infer
								if learn {
									run = net.Learn
								}
								_, err := run(batchCtx(t), bt.x, bt.labels)
								require.NoError(t, err)
								wantW, wantB := ref.batch(x, bt.labels, learn)
								for l := range layers {
									g := net.Updates()[l].Params()
									require.InDeltaSlice(t, rowsOf(wantW[l]), g[0], 1e-12, "batch %d: update of W_%d", b, l)
									require.InDeltaSlice(t, rowsOf(wantB[l]), g[1], 1e-12, "batch %d: update of b_%d", b, l)
									require.InDeltaSlice(t, rowsOf(ref.w[l]), layers[l].Params()[0], 1e-12, "batch %d: W_%d after", b, l)
									require.InDeltaSlice(t, rowsOf(ref.b[l]), layers[l].Params()[1], 1e-12, "batch %d: b_%d after", b, l)
									wantSteps := 0
									if learn {
										wantSteps = (b + 1) * T
									}
									for i, st := range net.Optimizers(l) {
										require.Equal(t, wantSteps, st.Steps(), "batch %d: optimiser steps of layer %d tensor %d", b, l, i)
									}
								}
								for l := 1; l <= h; l++ {
									require.InDeltaSlice(t, ref.errorMax[l], obs.byNode[l], 1e-12, "batch %d: max|e_%d(t)|, t = 0..T", b, l)
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestIncrementalFirstStepMovesOnlyTheTopLayer: at t = 0 every hidden error is exactly
// zero, so with T = 1 the update of every layer below the top is exactly +0 and the
// top layer's is its backprop gradient at the feed-forward values; with plain SGD the
// lower weights keep every bit. Hand-checked on the top layer: its update is
// deltaᵀ mu_H with delta = e_{H+1} (identity top), whose bias part is the column sum of
// (onehot - softmax)/B.
func TestIncrementalFirstStepMovesOnlyTheTopLayer(t *testing.T) {
	const h = 3
	f := newBatchFixture(h, 52, 4)
	for _, sched := range []Schedule{Event, Dense} {
		for _, eng := range engines {
			t.Run(fmt.Sprintf("%v/%v", sched, eng), func(t *testing.T) {
				layers := layer.CloneAll[float64](f.layers)
				before := snapshot(layers)
				net, err := New(context.Background(), layers, Config{Variant: Incremental, Steps: 1, Gamma: 0.5, Engine: eng,
					Schedule: sched, Optimizer: optim.Config{Kind: optim.SGD, LR: 0.3}})
				require.NoError(t, err)
				defer func() { require.NoError(t, net.Close()) }()
				_, err = net.Learn(batchCtx(t), f.x, f.labels)
				require.NoError(t, err)
				after := snapshot(layers)
				for l := 0; l < h; l++ {
					for _, p := range net.Updates()[l].Params() {
						for i, v := range p {
							require.Equal(t, uint64(0), math.Float64bits(v), "layer %d: update entry %d is +0", l, i)
						}
					}
					require.Equal(t, before[2*l], after[2*l], "W_%d kept", l)
					require.Equal(t, before[2*l+1], after[2*l+1], "b_%d kept", l)
				}
				// The top layer's bias update: every row's onehot - softmax sums to zero over
				// the classes, so the bias update sums to zero; and it is not zero.
				var sum, norm float64
				for _, v := range net.Updates()[h].Params()[1] {
					sum += v
					norm = math.Max(norm, math.Abs(v))
				}
				require.InDelta(t, 0, sum, 1e-15, "sum of the top bias update")
				require.NotZero(t, norm)
			})
		}
	}
}
