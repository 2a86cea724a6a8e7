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

// TestFailuresAreReportedByTheBatchThatMetThem: a failure is asserted to happen and
// when: the batch whose optimiser step sent the weights past MaxFloat64 returns
// ErrNonFinite itself (the next batch would compute with them, and a skipped product
// differs from a computed one only there), and so does every later batch until the
// weights are put right; a batch whose loss overflows reports it at once. Both engines,
// both schedules, and a Part's report.
func TestFailuresAreReportedByTheBatchThatMetThem(t *testing.T) {
	f := newBatchFixture(2, 61, 6)
	for _, sched := range []Schedule{Event, Dense} {
		for _, eng := range engines {
			t.Run(fmt.Sprintf("%v/%v", sched, eng), func(t *testing.T) {
				layers := layer.CloneAll[float64](f.layers)
				good := layer.CloneAll[float64](layers)
				// A weight decay of 1e308 sends every non-zero weight past MaxFloat64 in
				// the first step; the learning rate of the first batches is harmless.
				cfg := Config{Variant: FixedPrediction, Steps: 2, Gamma: 1, Engine: eng, Schedule: sched,
					Optimizer: optim.Config{Kind: optim.SGD, LR: 10, WeightDecay: 1e308}}
				net, err := New(context.Background(), layers, cfg)
				require.NoError(t, err)
				defer func() { require.NoError(t, net.Close()) }()
				_, err = net.Infer(batchCtx(t), f.x, f.labels)
				require.NoError(t, err, "batch 0 infers: the weights are untouched")
				_, err = net.Learn(batchCtx(t), f.x, f.labels)
				require.ErrorIs(t, err, ErrNonFinite, "batch 1 took the step that overflowed")
				require.ErrorContains(t, err, "after the optimiser step")
				_, err = net.Infer(batchCtx(t), f.x, f.labels)
				require.ErrorIs(t, err, ErrNonFinite, "batch 2 would compute with the weights batch 1 broke")
				for l := range layers {
					layers[l].CopyFrom(good[l])
				}
				_, err = net.Infer(batchCtx(t), f.x, f.labels)
				require.NoError(t, err, "batch 3, after the weights were put right")
			})
		}
	}
	t.Run("loss overflows/part", func(t *testing.T) {
		layers := layer.CloneAll[float64](f.layers)
		top := layers[len(layers)-1]
		for i := range top.Out() {
			top.B[i] = math.MaxFloat64
		}
		top.B[0] = -math.MaxFloat64 // a logit of -Max against +Max ones: softmax overflows to NaN
		cfg := testConfig(Standard, 2, 2)
		widths := widthsOf(layers)
		shared := newSharedLinks()
		lower, err := NewPart(context.Background(), PartSpec[float64]{Widths: widths, Lo: 0, Hi: 1, Layers: layers[:2], Config: cfg, Transport: shared})
		require.NoError(t, err)
		defer func() { require.NoError(t, lower.Close()) }()
		upper, err := NewPart(context.Background(), PartSpec[float64]{Widths: widths, Lo: 2, Hi: 3, Layers: layers[2:], Config: cfg, Transport: shared})
		require.NoError(t, err)
		defer func() { require.NoError(t, upper.Close()) }()
		ctx := batchCtx(t)
		errs := make(chan error, 1)
		go func() {
			_, err := lower.Run(ctx, PartBatch[float64]{Rows: 6, X: f.x})
			errs <- err
		}()
		rep, err := upper.Run(ctx, PartBatch[float64]{Rows: 6, Labels: f.labels})
		require.NoError(t, err)
		require.NoError(t, <-errs)
		require.ErrorIs(t, rep.Fault, ErrNonFinite, "the output node's part reports the loss of this batch")
		require.ErrorContains(t, rep.Fault, "the loss at the feed-forward values")
	})
}
