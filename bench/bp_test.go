package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/train"
)

// TestBPMatchesTrain holds the benchmarks' generic BP to train.BP: in float64 the same
// weights bit for bit after a few steps, so that BenchmarkBPStep's float64 figures time
// what train runs.
func TestBPMatchesTrain(t *testing.T) {
	for _, s := range []Setting{{Hidden: 1, Width: 16, Batch: 8}, {Hidden: 3, Width: 32, Batch: 5}} {
		t.Run(s.Name(), func(t *testing.T) {
			layers, x, labels := s.Problem(7)
			ours, err := NewBP(layers, layer.NLL{}, SGD)
			require.NoError(t, err)
			ref, _, _ := s.Problem(7)
			theirs, err := train.NewBP(ref, layer.NLL{}, SGD)
			require.NoError(t, err)
			for range 3 {
				lo := ours.Step(x, labels)
				lt, err := theirs.Step(context.Background(), x, labels)
				require.NoError(t, err)
				require.Equal(t, lt, lo, "loss")
			}
			for l, d := range ours.Layers() {
				require.Equal(t, ref[l].W.Data, d.W.Data, "layer %d weights", l)
				require.Equal(t, ref[l].B, d.B, "layer %d biases", l)
			}
		})
	}
}

// TestBPFloat32Learns checks that the float32 learner the benchmarks time trains: the
// loss on a fixed batch falls over a few steps.
func TestBPFloat32Learns(t *testing.T) {
	s := Setting{Precision: F32, Hidden: 2, Width: 32, Batch: 16}
	layers, x, labels := Problem[float32](s, 3)
	bp, err := NewBP(layers, layer.NLL{}, SGD)
	require.NoError(t, err)
	first := bp.Step(x, labels)
	var last float64
	for range 20 {
		last = bp.Step(x, labels)
	}
	require.Less(t, last, first)
}
