package pcnet

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// The tests here run the engine in both precisions (docs/design.md §7's bit-for-bit
// claims hold in float32 too): a float32 network is the float64 fixture's network with
// its weights and batches rounded to float32.

// precBatch is a testBatch in precision T.
type precBatch[T tensor.Float] struct {
	x      *tensor.Matrix[T]
	labels []int
}

// inPrecision rounds the fixture's layers and the batches to T (exact for float64).
func inPrecision[T tensor.Float](layers []*layer.Dense[float64], batches []testBatch) ([]*layer.Dense[T], []precBatch[T]) {
	ls := make([]*layer.Dense[T], len(layers))
	for l, d := range layers {
		c, err := layer.NewDense[T](d.In(), d.Out(), d.Act)
		if err != nil {
			panic(err)
		}
		tensor.Convert(c.W, d.W)
		tensor.ConvertSlice(c.B, d.B)
		ls[l] = c
	}
	bs := make([]precBatch[T], len(batches))
	for i, b := range batches {
		x := tensor.New[T](b.x.Rows, b.x.Cols, nil)
		tensor.Convert(x, b.x)
		bs[i] = precBatch[T]{x, b.labels}
	}
	return ls, bs
}

// precRecord is what a run of batches produced, as bit patterns: the losses, every
// batch's updates, and the weights and optimiser buffers at the end.
type precRecord struct {
	Losses  []uint64
	Updates [][]uint64
	Weights [][]uint64
	Buffers []map[string][]uint64
}

func bitsOf[T tensor.Float](s []T) []uint64 {
	out := make([]uint64, len(s))
	for i, v := range s {
		if f, ok := any(v).(float32); ok {
			out[i] = uint64(math.Float32bits(f))
		} else {
			out[i] = math.Float64bits(float64(v))
		}
	}
	return out
}

// learnRun trains a fresh network over copies of layers on the batches under cfg.
func learnRun[T tensor.Float](t *testing.T, cfg Config, layers []*layer.Dense[T], batches []precBatch[T]) precRecord {
	t.Helper()
	net, err := New(t.Context(), layer.CloneAll(layers), cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	var rec precRecord
	for _, b := range batches {
		loss, err := net.Learn(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		rec.Losses = append(rec.Losses, math.Float64bits(loss))
		for _, g := range net.Updates() {
			for _, p := range g.Params() {
				rec.Updates = append(rec.Updates, bitsOf(p))
			}
		}
	}
	for l, d := range net.Layers() {
		for k, p := range d.Params() {
			rec.Weights = append(rec.Weights, bitsOf(p))
			bufs := map[string][]uint64{}
			for name, v := range net.Optimizers(l)[k].Buffers() {
				bufs[name] = bitsOf(v)
			}
			rec.Buffers = append(rec.Buffers, bufs)
		}
	}
	return rec
}

// TestFloat32EnginesAndSchedulesAgreeBitForBit: in float32, as in float64, the sequential
// and parallel engines, the dense and event schedules, and a watched and an unwatched
// network compute the same losses, updates, weights and optimiser states bit for bit.
func TestFloat32EnginesAndSchedulesAgreeBitForBit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	opts := []optim.Config{{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}, testAdam}
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for _, v := range Variants() {
			for _, h := range []int{1, 2, 4} {
				f := newBatchFixture(h, 32, 8)
				layers, batches := inPrecision[float32](f.layers, f.fixtureBatches(uint64(h), 8, 5, 8))
				for _, T := range uniq(1, h, 2*h) {
					opt := opts[(h+T)%2]
					t.Run(fmt.Sprintf("GOMAXPROCS=%d/%v/H=%d/T=%d/%v", procs, v, h, T, opt.Kind), func(t *testing.T) {
						cfg := testConfig(v, h, T)
						cfg.Optimizer, cfg.MaxBatch = opt, 8
						cfg.Engine, cfg.Schedule = Sequential, Dense
						want := learnRun(t, cfg, layers, batches)
						for _, eng := range engines {
							for _, sch := range []Schedule{Dense, Event} {
								for _, watched := range []bool{false, true} {
									cfg.Engine, cfg.Schedule, cfg.Observer = eng, sch, nil
									if watched {
										cfg.Observer = &Recorder{}
									}
									got := learnRun(t, cfg, layers, batches)
									require.Equal(t, want, got, "%v engine, %v schedule, watched %v", eng, sch, watched)
								}
							}
						}
					})
				}
			}
		}
	}
}

// trainBP trains copies of layers by backpropagation on the batches, one optimiser state
// per tensor as pcnet keeps them, and returns the final weights' bits.
func trainBP[T tensor.Float](t *testing.T, opt optim.Config, layers []*layer.Dense[T], batches []precBatch[T]) [][]uint64 {
	net, err := backprop.New(layer.CloneAll(layers), layer.NLL{})
	require.NoError(t, err)
	grads := make([]*layer.Grad[T], len(layers))
	states := make([][2]*optim.State[T], len(layers))
	for l, d := range net.Layers {
		grads[l] = layer.NewGrad(d)
		for k, p := range d.Params() {
			states[l][k] = optim.NewState[T](opt, len(p))
		}
	}
	for _, b := range batches {
		net.Gradients(grads, b.x, b.labels)
		for l, d := range net.Layers {
			for k, p := range d.Params() {
				states[l][k].Step(p, grads[l].Params()[k])
			}
		}
	}
	var out [][]uint64
	for _, d := range net.Layers {
		for _, p := range d.Params() {
			out = append(out, bitsOf(p))
		}
	}
	return out
}

// fpaEqualsBP checks that FPA-PC with gamma 1 and T >= H, learning for ten batches,
// ends with BP's weights bit for bit, in precision T.
func fpaEqualsBP[T tensor.Float](t *testing.T) {
	for _, h := range []int{1, 2, 4} {
		f := newBatchFixture(h, 18, 6)
		sizes := []int{6, 6, 4, 6, 6, 5, 6, 6, 3, 6}
		layers, batches := inPrecision[T](f.layers, f.fixtureBatches(uint64(18+h), sizes...))
		for _, opt := range []optim.Config{{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}, testAdam} {
			want := trainBP(t, opt, layers, batches)
			for _, T := range []int{h, h + 2} {
				for _, eng := range engines {
					t.Run(fmt.Sprintf("H=%d/T=%d/%v/%v", h, T, opt.Kind, eng), func(t *testing.T) {
						cfg := Config{Variant: FixedPrediction, Steps: T, Gamma: 1, Engine: eng, MaxBatch: 6, Optimizer: opt}
						got := learnRun(t, cfg, layers, batches)
						require.Equal(t, want, got.Weights)
					})
				}
			}
		}
	}
}

// TestFixedPredictionLearnsBackpropsWeightsBitForBit is the claim of docs/design.md §7 in
// both precisions: FPA-PC with gamma 1 and T >= H trains to BP's weights exactly.
func TestFixedPredictionLearnsBackpropsWeightsBitForBit(t *testing.T) {
	t.Run("float64", fpaEqualsBP[float64])
	t.Run("float32", fpaEqualsBP[float32])
}

// TestFloat32IsFloat64Rounded: a float32 network's updates are those of the float64
// network it was rounded from, to float32's precision (a float32 path that computed
// anything else, or in float64 throughout, would miss one bound or the other).
func TestFloat32IsFloat64Rounded(t *testing.T) {
	f := newBatchFixture(3, 5, 8)
	batches := f.fixtureBatches(5, 8)
	l64, b64 := inPrecision[float64](f.layers, batches)
	l32, b32 := inPrecision[float32](f.layers, batches)
	// Run the float64 network on the float32-rounded data and weights, so that the only
	// difference left is the arithmetic.
	for l := range l64 {
		tensor.Convert(l64[l].W, l32[l].W)
		tensor.ConvertSlice(l64[l].B, l32[l].B)
	}
	tensor.Convert(b64[0].x, b32[0].x)
	cfg := Config{Variant: FixedPrediction, Steps: 3, Gamma: 1, MaxBatch: 8}
	n64, err := New(t.Context(), l64, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, n64.Close()) }()
	n32, err := New(t.Context(), l32, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, n32.Close()) }()
	_, err = n64.Infer(batchCtx(t), b64[0].x, b64[0].labels)
	require.NoError(t, err)
	_, err = n32.Infer(batchCtx(t), b32[0].x, b32[0].labels)
	require.NoError(t, err)
	for l := range l64 {
		for k, want := range n64.Updates()[l].Params() {
			got := n32.Updates()[l].Params()[k]
			var d2, w2 float64
			exact := true
			for i, w := range want {
				d := float64(got[i]) - w
				d2, w2 = d2+d*d, w2+w*w
				exact = exact && float64(got[i]) == w
			}
			rel := math.Sqrt(d2 / w2)
			require.Less(t, rel, 1e-5, "layer %d tensor %d: float32 is float64 to float32's precision", l, k)
			require.False(t, exact, "layer %d tensor %d: float32 arithmetic rounds somewhere", l, k)
		}
	}
}
