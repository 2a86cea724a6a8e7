package checkpoint

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

// A checkpoint written before the schedule and the engine were stored loads with them
// unset, and everything else as it was.
func TestOldCheckpointsLoad(t *testing.T) {
	c := sample(t, sgd, 3)
	var buf bytes.Buffer
	f, err := Encode(c)
	require.NoError(t, err)
	require.Equal(t, "event", f.Metadata["schedule"])
	require.Equal(t, "parallel", f.Metadata["engine"])
	delete(f.Metadata, "schedule")
	delete(f.Metadata, "engine")
	require.NoError(t, safetensors.Encode(&buf, f))
	got, err := Read[float64](&buf, int64(buf.Len()))
	require.NoError(t, err)
	want := c.Run
	want.PC.Schedule, want.PC.Engine = 0, 0
	require.Equal(t, want, got.Run)
}

// Writer stores the learner's weights and optimiser states with the run as is, and says
// which checkpoint it kept.
func TestWriterSaves(t *testing.T) {
	r := spec.Default()
	r.Sizes, r.Algorithm, r.PC.Schedule, r.Data.Dir = []int{6, 5, 4}, spec.BP, pcnet.Dense, "/data"
	layers, err := layer.NewMLP[float64](r.Sizes, r.Activation, rand.New(rand.NewPCG(1, 0)))
	require.NoError(t, err)
	l, err := train.New(context.Background(), &r, layer.AsMaps(layers), nil)
	require.NoError(t, err)
	x := mnist.Synthetic(16, 6, 4, 2).Rows(0, 16, nil)
	_, err = l.Step(context.Background(), x.SliceRows(0, 8), []int{0, 1, 2, 3, 0, 1, 2, 3})
	require.NoError(t, err)
	w := &Writer[float64]{Path: filepath.Join(t.TempDir(), "run.safetensors"), Run: &r}
	for _, tc := range []struct {
		pos  train.Position
		want string
	}{
		{train.Position{}, "the initial weights"},
		{train.Position{Epoch: 2, Samples: 100}, "after epoch 2"},
		{train.Position{Epoch: 2, Batch: 7, Samples: 156}, "epoch 3, batch 7"},
	} {
		require.NoError(t, w.Save(context.Background(), l, tc.pos))
		require.Equal(t, tc.want, w.LastGood)
		got, err := Load[float64](w.Path)
		require.NoError(t, err)
		require.Equal(t, r, got.Run)
		require.Equal(t, tc.pos, got.Position)
		require.Equal(t, int64(1), got.Step)
		for i, d := range l.Layers() {
			require.True(t, tensor.Equal(d.W, got.Layers[i].W))
		}
	}
}
