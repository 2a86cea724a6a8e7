package checkpoint

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// A float32 run interrupted mid-epoch, checkpointed and resumed ends with exactly the
// weights and optimiser state of the run that was never stopped, and its checkpoint
// holds F32 weights and buffers and records the precision (docs/design.md §6, "Precision").
func TestFloat32ResumeIsExact(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, alg := range []spec.Algorithm{spec.BP, spec.FPA} {
		t.Run(alg.String(), func(t *testing.T) {
			r := spec.Default()
			r.Precision, r.Algorithm, r.Sizes, r.PC.Steps = spec.F32, alg, []int{12, 8, 6, 4}, 2
			r.Batch, r.Epochs = 8, 2
			data := mnist.SyntheticSplits(64, 16, 16, 12, 4, 3)
			opts := train.Options{Epochs: r.Epochs, Batch: r.Batch, Seed: r.Seed, Loss: r.LossFunc()}

			straight := newLearner(t, &r, nil)
			_, err := train.Run(context.Background(), straight, data, opts, train.Position{}, train.Hooks{})
			require.NoError(t, err)

			// Stop after the third batch of the first epoch, as Ctrl-C does.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := newLearner(t, &r, nil)
			pos, err := train.Run(ctx, first, data, opts, train.Position{}, train.Hooks{Batch: func(b train.BatchInfo) {
				if b.Next.Batch == 3 {
					cancel()
				}
			}})
			require.ErrorIs(t, err, context.Canceled)
			require.Equal(t, train.Position{Batch: 3, Samples: 24}, pos)
			w := &Writer[float32]{Path: filepath.Join(t.TempDir(), "run.safetensors"), Run: &r}
			require.NoError(t, w.Save(context.Background(), first, pos))

			f, err := safetensors.ReadFile(w.Path)
			require.NoError(t, err)
			require.Equal(t, "f32", f.Metadata["precision"])
			for _, tn := range f.Tensors {
				want := safetensors.F32
				if strings.HasSuffix(tn.Name, ".step") {
					want = safetensors.F64 // step counts: integers beyond float32's 2^24
				}
				require.Equal(t, want, tn.DType, tn.Name)
			}

			ck, err := Load[float32](w.Path)
			require.NoError(t, err)
			resumed := newLearner(t, &r, ck)
			_, err = train.Run(context.Background(), resumed, data, opts, ck.Position, train.Hooks{})
			require.NoError(t, err)
			for l, d := range straight.Layers() {
				require.True(t, tensor.Equal(d.W, resumed.Layers()[l].W), "layer %d weights", l)
				require.Equal(t, d.B, resumed.Layers()[l].B, "layer %d bias", l)
				for i, s := range straight.Optimizers()[l] {
					require.Equal(t, s.Buffers(), resumed.Optimizers()[l][i].Buffers(), "layer %d tensor %d", l, i)
				}
			}
		})
	}
}

// newLearner starts a learner of r in float32, from the initial weights or from ck; the
// test's cleanup closes it.
func newLearner(t *testing.T, r *spec.Run, ck *Checkpoint[float32]) train.Learner[float32] {
	t.Helper()
	layers, err := spec.InitialLayersOf[float32](r)
	require.NoError(t, err)
	if ck != nil {
		layers = ck.Layers
	}
	l, err := train.New(context.Background(), r, layer.AsMaps(layers), nil)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	if ck != nil {
		require.NoError(t, ck.RestoreOptimizers(l.Optimizers()))
	}
	return l
}

// sample32 is a float32 copy of sample's checkpoint.
func sample32(t testing.TB) *Checkpoint[float32] {
	c := sample(t, sgd, 3)
	out := &Checkpoint[float32]{Run: c.Run, Position: c.Position, Step: c.Step}
	out.Run.Precision = spec.F32
	for _, d := range c.Layers {
		l := d.Clone()
		w := tensor.New[float32](d.Out(), d.In(), nil)
		tensor.Convert(w, l.W)
		b := make([]float32, len(d.B))
		tensor.ConvertSlice(b, d.B)
		out.Layers = append(out.Layers, &layer.Dense[float32]{Act: l.Act, W: w, B: b})
	}
	for _, pair := range c.OptimizerState {
		var p [2]TensorState[float32]
		for i, ts := range pair {
			p[i] = TensorState[float32]{Steps: ts.Steps, Buffers: map[string][]float32{}}
			for k, v := range ts.Buffers {
				b := make([]float32, len(v))
				tensor.ConvertSlice(b, v)
				p[i].Buffers[k] = b
			}
		}
		out.OptimizerState = append(out.OptimizerState, p)
	}
	return out
}

// Loading checks the dtype against the recorded precision: each way round, a tampered
// file and an unknown precision are one clear error; a checkpoint that records none is
// float64, as every checkpoint before the choice.
func TestPrecisionIsChecked(t *testing.T) {
	c := sample32(t)
	f, err := Encode(c)
	require.NoError(t, err)
	got, err := Decode[float32](f)
	require.NoError(t, err)
	require.Equal(t, c.Run, got.Run)
	for l := range c.Layers {
		require.True(t, tensor.Equal(c.Layers[l].W, got.Layers[l].W))
	}
	require.Equal(t, c.OptimizerState, got.OptimizerState)
	require.Equal(t, "f32", FixedSettings(&c.Run)["precision"])

	old, err := Encode(sample(t, sgd, 3))
	require.NoError(t, err)
	require.Equal(t, "f64", old.Metadata["precision"])
	delete(old.Metadata, "precision")
	p, err := PrecisionOf(old)
	require.NoError(t, err)
	require.Equal(t, spec.F64, p)
	g64, err := Decode[float64](old)
	require.NoError(t, err)
	require.Equal(t, spec.F64, g64.Run.Precision)

	tampered := func(key, value string) *safetensors.File {
		var buf bytes.Buffer
		require.NoError(t, safetensors.Encode(&buf, f))
		g, err := safetensors.Decode(&buf, int64(buf.Len()))
		require.NoError(t, err)
		g.Metadata[key] = value
		return g
	}
	for _, tc := range []struct {
		name   string
		decode func() error
		want   string
	}{
		{"a float32 checkpoint as float64", func() error { _, err := Decode[float64](f); return err },
			"the checkpoint's precision is f32 (float32), not f64 (float64)"},
		{"a float64 checkpoint as float32", func() error { _, err := Decode[float32](old); return err },
			"the checkpoint's precision is f64 (float64), not f32 (float32)"},
		{"F32 tensors under a float64 precision", func() error { _, err := Decode[float64](tampered("precision", "f64")); return err },
			`safetensors: tensor "layers.0.weight" is F32, the destination is float64 (F64)`},
		{"an unknown precision", func() error { _, err := Decode[float32](tampered("precision", "f16")); return err },
			`metadata "precision": unknown precision "f16" (want f32 or f64)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode()
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q", err)
			require.NotContains(t, err.Error(), "\n")
		})
	}

	// A run whose precision is not its weights' is refused before anything is written.
	wrong := *c
	wrong.Run.Precision = spec.F64
	_, err = Encode(&wrong)
	require.EqualError(t, err, "the run's precision is f64 but the checkpoint holds float32 values")
}
