package pcnet

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
)

// TestEventFPANeverReadsTheLastBatchsError: under FPA's event schedule with gamma 1 and no
// observer, a node does not write the zeros of e_l(0) (feedForward), so whatever the last
// batch of the size left in the buffer must never reach a value. Every hidden node's
// error buffers are filled with NaN before each batch, and the run must equal one
// without, bit for bit, on both engines and for T below, at and above H.
func TestEventFPANeverReadsTheLastBatchsError(t *testing.T) {
	const h = 3
	f := newBatchFixture(h, 9, 8)
	batches := f.fixtureBatches(5, 8, 5, 8, 5)
	for _, eng := range engines {
		for _, T := range []int{h - 1, h, 2 * h} {
			t.Run(fmt.Sprintf("%v/T=%d", eng, T), func(t *testing.T) {
				cfg := Config{Variant: FixedPrediction, Steps: T, Gamma: 1, Engine: eng, Schedule: Event, MaxBatch: 8,
					Optimizer: optim.Config{Kind: optim.SGD, LR: 0.05, Momentum: 0.9}}
				want := staleErrorRun(t, cfg, f.layers, batches, false)
				got := staleErrorRun(t, cfg, f.layers, batches, true)
				require.Equal(t, want, got)
			})
		}
	}
}

// staleErrorRun learns the batches on a fresh network over copies of layers and returns
// the bits of every loss and update and of the final weights; with poison, every hidden
// node's error buffers hold NaN before each batch.
func staleErrorRun(t *testing.T, cfg Config, layers []*layer.Dense[float64], batches []testBatch, poison bool) []uint64 {
	t.Helper()
	net, err := New(t.Context(), layer.CloneAll(layers), cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	var bits []uint64
	for _, b := range batches {
		if poison {
			// Between batches no engine touches the nodes.
			for _, nd := range net.nodes {
				for _, w := range nd.work {
					if nd.role == hiddenRole {
						for i := range w.e.Data {
							w.e.Data[i] = math.NaN()
						}
					}
				}
			}
		}
		loss, err := net.Learn(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		bits = append(bits, math.Float64bits(loss))
		for _, g := range net.Updates() {
			for _, p := range g.Params() {
				bits = append(bits, bitsOf(p)...)
			}
		}
	}
	for _, d := range net.Layers() {
		for _, p := range d.Params() {
			bits = append(bits, bitsOf(p)...)
		}
	}
	return bits
}
