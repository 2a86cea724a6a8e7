package checkpoint

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// graphRun is μPC's residual network 12-[8 relu]x4-4 with the skips 1:3,2:5 (into the
// output, whose width is then 8), Adam, two epochs of batch 8.
func graphRun(alg spec.Algorithm, p spec.Precision) spec.Run {
	r := spec.Default()
	r.Sizes, r.Activation, r.Loss = []int{12, 8, 8, 8, 8, 8}, layer.ReLU, "sse"
	r.Arch, r.Param, r.Skips = graph.Residual, layer.MuPC, []graph.Skip{{From: 1, To: 3}, {From: 2, To: 5}}
	r.Algorithm, r.Precision, r.Optimizer = alg, p, optim.DefaultAdam(0.01)
	r.PC.Steps, r.PC.Gamma = 4, spec.GammaOfActivityLR(0.5, 8)
	r.Batch, r.Epochs = 8, 2
	return r
}

// A graph run's checkpoint keeps its pre-activation maps (weight only) and the graph in
// its metadata, and a run of two epochs equals one stopped after the first and resumed
// from its checkpoint, bit for bit: weights and optimiser states, in both precisions.
func TestGraphResumeIsExact(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, p := range []spec.Precision{spec.F32, spec.F64} {
		for _, alg := range []spec.Algorithm{spec.BP, spec.FPA, spec.PC} {
			t.Run(p.String()+"/"+alg.String(), func(t *testing.T) {
				if p == spec.F32 {
					testGraphResume[float32](t, graphRun(alg, p))
				} else {
					testGraphResume[float64](t, graphRun(alg, p))
				}
			})
		}
	}
}

func testGraphResume[T tensor.Float](t *testing.T, r spec.Run) {
	data := mnist.SyntheticSplits(40, 16, 16, 12, 8, 3)
	opts := train.Options{Epochs: r.Epochs, Batch: r.Batch, Seed: r.Seed, Loss: r.LossFunc()}
	straight := newGraphLearner[T](t, &r, nil)
	_, err := train.Run(context.Background(), straight, data, opts, train.Position{}, train.Hooks{})
	require.NoError(t, err)

	first := newGraphLearner[T](t, &r, nil)
	one := opts
	one.Epochs = 1
	pos, err := train.Run(context.Background(), first, data, one, train.Position{}, train.Hooks{})
	require.NoError(t, err)
	w := &Writer[T]{Path: filepath.Join(t.TempDir(), "run.safetensors"), Run: &r}
	require.NoError(t, w.Save(context.Background(), first, pos))

	f, err := safetensors.ReadFile(w.Path)
	require.NoError(t, err)
	require.Equal(t, "residual", f.Metadata["arch"])
	require.Equal(t, "mupc", f.Metadata["param"])
	require.Equal(t, "1:3,2:5", f.Metadata["skips"])
	require.Equal(t, FormatFloats(multipliers(&r)), f.Metadata["multipliers"])
	for _, tn := range f.Tensors {
		require.NotContains(t, tn.Name, "bias", "μPC's maps have no bias")
	}

	ck, err := Load[T](w.Path)
	require.NoError(t, err)
	require.Equal(t, r, ck.Run)
	require.Nil(t, ck.Layers)
	require.Len(t, ck.PreAct, len(r.Sizes)-1)
	resumed := newGraphLearner[T](t, &r, ck)
	_, err = train.Run(context.Background(), resumed, data, opts, ck.Position, train.Hooks{})
	require.NoError(t, err)
	for l, m := range straight.Maps() {
		require.Equal(t, m.Params(), resumed.Maps()[l].Params(), "map %d", l)
		for i, s := range straight.Optimizers()[l] {
			require.Equal(t, s.Buffers(), resumed.Optimizers()[l][i].Buffers(), "map %d tensor %d", l, i)
			require.Equal(t, s.Steps(), resumed.Optimizers()[l][i].Steps(), "map %d tensor %d", l, i)
		}
	}
}

// newGraphLearner starts a learner of r, from the initial maps or from ck; the test's
// cleanup closes it.
func newGraphLearner[T tensor.Float](t *testing.T, r *spec.Run, ck *Checkpoint[T]) train.Learner[T] {
	t.Helper()
	maps, err := spec.InitialMapsOf[T](r)
	require.NoError(t, err)
	if ck != nil {
		maps = ck.Maps()
	}
	l, err := train.New(context.Background(), r, maps, nil)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	if ck != nil {
		require.NoError(t, ck.RestoreOptimizers(l.Optimizers()))
	}
	return l
}

// A chain of dense layers writes none of the graph's keys, as checkpoints before graphs,
// and reads their absence as the chain; a tampered graph is one clear error.
func TestGraphMetadata(t *testing.T) {
	f, err := Encode(sample(t, sgd, 3))
	require.NoError(t, err)
	for _, k := range []string{"arch", "param", "skips", "multipliers"} {
		require.NotContains(t, f.Metadata, k)
	}
	got, err := Decode[float64](f)
	require.NoError(t, err)
	require.True(t, got.Run.Dense())
	require.False(t, got.Run.IsGraph())

	r := graphRun(spec.FPA, spec.F64)
	maps, err := spec.InitialMapsOf[float64](&r)
	require.NoError(t, err)
	c := &Checkpoint[float64]{Run: r}
	require.NoError(t, c.SetMaps(maps))
	require.Error(t, (&Checkpoint[float64]{Run: spec.Default()}).SetMaps(maps), "dense run, pre-activation maps")
	for _, tc := range []struct {
		name string
		edit func(f *safetensors.File)
		want string
	}{
		{"arch", func(f *safetensors.File) { f.Metadata["arch"] = "tree" }, `metadata "arch" = "tree": want chain or residual`},
		{"param", func(f *safetensors.File) { f.Metadata["param"] = "mup" }, `metadata "param" = "mup": want standard or mupc`},
		{"skips syntax", func(f *safetensors.File) { f.Metadata["skips"] = "1-3" }, `metadata "skips" = "1-3": graph: bad skip`},
		{"skip out of range", func(f *safetensors.File) { f.Metadata["skips"] = "1:9" }, `metadata "skips" = "1:9": node out of range`},
		{"residual widths", func(f *safetensors.File) { f.Metadata["sizes"] = "12,8,7,8,8,8" }, `metadata "arch" = "residual": bad widths`},
		{"multipliers", func(f *safetensors.File) { f.Metadata["multipliers"] = "1,1,1,1,1" }, `metadata "multipliers" = "1,1,1,1,1": want`},
		{"a bias", func(f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.NewTensor("layers.0.bias", []int{8}, make([]float64, 8)))
		}, `unexpected tensor "layers.0.bias"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Encode(c)
			require.NoError(t, err)
			tc.edit(f)
			_, err = Decode[float64](f)
			require.ErrorContains(t, err, tc.want)
			require.False(t, strings.Contains(err.Error(), "\n"), "one line")
		})
	}
}

// The metadata's multipliers are the maps' own (what the forward pass multiplies by,
// docs/design.md §11): under μPC a_0 = 1/sqrt(D) of the input width, a_L = 1/N of the
// readout's input width and 1/sqrt(N L) between them; 1 under the standard
// parameterisation.
func TestGraphMultipliers(t *testing.T) {
	sqrt := func(x float64) float64 { return 1 / math.Sqrt(x) }
	for _, tc := range []struct {
		name  string
		sizes []int
		param layer.Param
		want  []float64
	}{
		{"mupc", []int{12, 8, 8, 8, 8, 8}, layer.MuPC, []float64{sqrt(12), sqrt(8 * 5), sqrt(8 * 5), sqrt(8 * 5), 1.0 / 8}},
		{"mupc H=1", []int{6, 4, 3}, layer.MuPC, []float64{sqrt(6), 1.0 / 4}},
		{"standard", []int{12, 8, 8, 8, 8, 8}, layer.Standard, []float64{1, 1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := graphRun(spec.FPA, spec.F64)
			r.Sizes, r.Param, r.Skips = tc.sizes, tc.param, nil
			maps, err := spec.InitialMapsOf[float64](&r)
			require.NoError(t, err)
			var scales []float64
			for _, m := range maps {
				scales = append(scales, m.(*layer.PreAct[float64]).Scale)
			}
			require.InDeltaSlice(t, tc.want, scales, 1e-15, "the maps' multipliers")
			c := &Checkpoint[float64]{Run: r}
			require.NoError(t, c.SetMaps(maps))
			f, err := Encode(c)
			require.NoError(t, err)
			require.Equal(t, FormatFloats(scales), f.Metadata["multipliers"])
		})
	}
}

// Encode refuses maps of the kind the run does not keep: dense layers for a μPC or
// residual run (whose file holds no biases and whose reader rebuilds pre-activation
// maps), pre-activation maps for a run of dense layers, or neither.
func TestEncodeRefusesMapsOfAnotherKind(t *testing.T) {
	r := graphRun(spec.FPA, spec.F64)
	maps, err := spec.InitialMapsOf[float64](&r)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		make func() *Checkpoint[float64]
		want string
	}{
		{"dense layers of a mupc run", func() *Checkpoint[float64] {
			c := sample(t, sgd, 3)
			c.Run.Param = layer.MuPC
			return c
		}, "run keeps its weights in PreAct"},
		{"dense layers of a residual run", func() *Checkpoint[float64] {
			c := sample(t, sgd, 3)
			c.Run.Sizes, c.Layers, c.OptimizerState = []int{5, 4, 4, 2}, nil, nil
			layers, err := layer.NewMLP[float64](c.Run.Sizes, layer.Tanh, rand.New(rand.NewPCG(1, 2)))
			require.NoError(t, err)
			c.Layers, c.Run.Arch = layers, graph.Residual
			return c
		}, "run keeps its weights in PreAct"},
		{"pre-activation maps of a dense run", func() *Checkpoint[float64] {
			c := &Checkpoint[float64]{Run: r}
			require.NoError(t, c.SetMaps(maps))
			c.Run.Arch, c.Run.Param = graph.Chain, layer.Standard
			return c
		}, "run keeps its weights in Layers"},
		{"neither", func() *Checkpoint[float64] { return &Checkpoint[float64]{Run: r} }, "run keeps its weights in PreAct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.make())
			require.ErrorContains(t, err, tc.want)
		})
	}
}
