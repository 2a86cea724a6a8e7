package checkpoint

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

// sample returns a small checkpoint whose optimiser state has been stepped, so that no
// buffer is all zeros.
func sample(t testing.TB, opt optim.Config, seed uint64) *Checkpoint[float64] {
	t.Helper()
	c, _ := sampleWithStates(t, opt, seed)
	return c
}

// sampleWithStates is sample with the optimiser states it captured, which own the
// checkpoint's layers from then on.
func sampleWithStates(t testing.TB, opt optim.Config, seed uint64) (*Checkpoint[float64], [][2]*optim.State[float64]) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	sizes := []int{5, 4, 3, 2}
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	require.NoError(t, err)
	states := make([][2]*optim.State[float64], len(layers))
	for l, d := range layers {
		for i, p := range d.Params() {
			s := opt.NewState(len(p))
			g := make([]float64, len(p))
			for range 3 {
				for j := range g {
					g[j] = rng.NormFloat64()
				}
				s.Step(p, g)
			}
			states[l][i] = s
		}
	}
	return &Checkpoint[float64]{
		Run: spec.Run{
			Sizes: sizes, Activation: layer.Tanh, Loss: "nll", Algorithm: spec.FPA,
			PC:        spec.PCSettings{Steps: 2, Gamma: 1, K: 1, Engine: pcnet.Parallel, Schedule: pcnet.Event},
			Optimizer: opt, Seed: seed, Batch: 8, Data: spec.Data{Dataset: "fashion", MaxTrain: 100}, Epochs: 3,
		},
		Position: train.Position{Epoch: 1, Batch: 7, Samples: 156}, Step: 3,
		Layers: layers, OptimizerState: CaptureOptimizers(states),
	}, states
}

var (
	sgd  = optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9}
	adam = optim.DefaultAdam(1e-3)
)

func encodeBytes(t testing.TB, c *Checkpoint[float64]) []byte {
	t.Helper()
	f, err := Encode(c)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, safetensors.Encode(&buf, f))
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  optim.Config
		edit func(c *Checkpoint[float64])
	}{
		{"sgd momentum", sgd, nil},
		{"sgd plain", optim.Config{Kind: optim.SGD, LR: 0.1, WeightDecay: 1e-4}, nil},
		{"adam", adam, nil},
		{"pc precisions", sgd, func(c *Checkpoint[float64]) { c.Run.Algorithm, c.Run.PC.Precisions = spec.PC, []float64{0.5, 2} }},
		{"no optimizer state", sgd, func(c *Checkpoint[float64]) { c.OptimizerState = nil }},
		{"awkward floats", adam, func(c *Checkpoint[float64]) { c.Run.PC.Gamma, c.Run.PC.K, c.Run.Seed = 0.1, 1.0/3, math.MaxUint64 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample(t, tc.opt, 7)
			if tc.edit != nil {
				tc.edit(c)
			}
			path := filepath.Join(t.TempDir(), "c.safetensors")
			require.NoError(t, Save(path, c))
			got, err := Load[float64](path)
			require.NoError(t, err)
			require.Equal(t, c.Run.Sizes, got.Run.Sizes)
			require.Equal(t, c.Run.Activation, got.Run.Activation)
			require.Equal(t, c.Run.Loss, got.Run.Loss)
			require.Equal(t, c.Run.Algorithm, got.Run.Algorithm)
			require.Equal(t, c.Run.PC.Steps, got.Run.PC.Steps)
			require.Equal(t, c.Run.PC.Gamma, got.Run.PC.Gamma)
			require.Equal(t, c.Run.PC.K, got.Run.PC.K)
			require.Equal(t, c.Run.PC.Precisions, got.Run.PC.Precisions)
			require.Equal(t, c.Run.Optimizer, got.Run.Optimizer)
			require.Equal(t, c.Run.Seed, got.Run.Seed)
			require.Equal(t, c.Run.Batch, got.Run.Batch)
			require.Equal(t, c.Run.Data.MaxTrain, got.Run.Data.MaxTrain)
			require.Equal(t, c.Run.Epochs, got.Run.Epochs)
			require.Equal(t, c.Run, got.Run, "the specification, as is")
			require.Equal(t, c.Position, got.Position)
			require.Equal(t, c.Step, got.Step)
			require.Len(t, got.Layers, len(c.Layers))
			for l, d := range c.Layers {
				require.Equal(t, d.Act, got.Layers[l].Act)
				require.Equal(t, d.W.Data, got.Layers[l].W.Data)
				require.Equal(t, d.B, got.Layers[l].B)
			}
			require.Equal(t, c.OptimizerState, got.OptimizerState)
			// The file is deterministic: saving what was loaded gives the same bytes.
			require.Equal(t, encodeBytes(t, c), encodeBytes(t, got))
		})
	}
}

// Restoring the saved optimiser state and stepping on equals stepping on without a stop.
// TestRestoreOptimizersContinuesExactly: optimiser states made from a checkpoint's
// optimiser configuration and restored from it take the same steps, bit for bit, as the
// states the checkpoint was written from, on the checkpoint's weights.
func TestRestoreOptimizersContinuesExactly(t *testing.T) {
	for _, opt := range []optim.Config{sgd, adam} {
		t.Run(opt.Kind.String(), func(t *testing.T) {
			live, states := sampleWithStates(t, opt, 3)
			got, err := Read[float64](bytes.NewReader(encodeBytes(t, live)), 1<<20)
			require.NoError(t, err)
			restored := make([][2]*optim.State[float64], len(got.Layers))
			for l, d := range got.Layers {
				for i, p := range d.Params() {
					restored[l][i] = got.Run.Optimizer.NewState(len(p))
				}
			}
			require.NoError(t, got.RestoreOptimizers(restored))

			rng := rand.New(rand.NewPCG(4, 0))
			for step := range 3 {
				for l := range states {
					want, have := live.Layers[l].Params(), got.Layers[l].Params()
					for i := range want {
						g := make([]float64, len(want[i]))
						for j := range g {
							g[j] = rng.NormFloat64()
						}
						states[l][i].Step(want[i], g)
						restored[l][i].Step(have[i], g)
						require.Equal(t, states[l][i].Steps(), restored[l][i].Steps())
						for j := range want[i] {
							if math.Float64bits(want[i][j]) != math.Float64bits(have[i][j]) {
								t.Fatalf("step %d after restoring, layer %d, tensor %d [%d]: restored %v, continued %v", step+1, l, i, j, have[i][j], want[i][j])
							}
						}
					}
				}
			}
		})
	}
}

func TestRestoreOptimizersErrors(t *testing.T) {
	c := sample(t, sgd, 1)
	require.ErrorContains(t, c.RestoreOptimizers(make([][2]*optim.State[float64], 2)), "optimizer state for 3 layers, the network has 2")
	c.OptimizerState = nil
	require.ErrorContains(t, c.RestoreOptimizers(nil), "no optimizer state")
}

func TestEncodeRejectsInconsistentCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Checkpoint[float64])
		want string
	}{
		{"sizes", func(c *Checkpoint[float64]) { c.Run.Sizes = []int{5, 4, 3} }, "3 layers for sizes [5 4 3]"},
		{"layer width", func(c *Checkpoint[float64]) { c.Run.Sizes = []int{5, 4, 4, 2} }, "layer 1 maps 4 to 3"},
		{"optimizer", func(c *Checkpoint[float64]) { c.Run.Optimizer = optim.Config{} }, "kind not set"},
		{"buffers", func(c *Checkpoint[float64]) { c.Run.Optimizer = adam }, "adam keeps [exp_avg exp_avg_sq]"},
		{"state layers", func(c *Checkpoint[float64]) { c.OptimizerState = c.OptimizerState[:1] }, "optimizer state for 1 layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample(t, sgd, 1)
			tc.edit(c)
			_, err := Encode(c)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// decodeEdited encodes a sample checkpoint, lets edit change the safetensors file and
// decodes the result.
func decodeEdited(t *testing.T, edit func(f *safetensors.File)) error {
	t.Helper()
	f, err := Encode(sample(t, sgd, 1))
	require.NoError(t, err)
	edit(f)
	var buf bytes.Buffer
	require.NoError(t, safetensors.Encode(&buf, f))
	_, err = Read[float64](&buf, 1<<20)
	return err
}

func setTensor(f *safetensors.File, name string, shape []int, data []float64) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			f.Tensors[i].Shape, f.Tensors[i].Data = shape, data
			return
		}
	}
	f.Tensors = append(f.Tensors, safetensors.Tensor{Name: name, Shape: shape, Data: data})
}

func dropTensor(f *safetensors.File, name string) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			f.Tensors = append(f.Tensors[:i], f.Tensors[i+1:]...)
			return
		}
	}
}

func TestDecodeRejectsBadCheckpoints(t *testing.T) {
	meta := func(k, v string) func(f *safetensors.File) {
		return func(f *safetensors.File) {
			if v == "" {
				delete(f.Metadata, k)
			} else {
				f.Metadata[k] = v
			}
		}
	}
	for _, tc := range []struct {
		name string
		edit func(f *safetensors.File)
		want string
	}{
		{"no format", meta("format", ""), `has no "format" key`},
		{"wrong format", meta("format", "pcnet-checkpoint/9"), `metadata format is "pcnet-checkpoint/9"`},
		{"no sizes", meta("sizes", ""), `metadata "sizes" is missing`},
		{"bad sizes", meta("sizes", "5,x,3,2"), `metadata "sizes" = "5,x,3,2": want comma-separated widths >= 1`},
		{"zero width", meta("sizes", "5,0,3,2"), `want comma-separated widths >= 1`},
		{"one size", meta("sizes", "5"), `want at least an input and an output width`},
		{"hidden", meta("hidden", "3"), `3 hidden layers, but sizes 5,4,3,2 has 2`},
		{"activation", meta("activation", "swish"), `unknown activation "swish"`},
		{"loss", meta("loss", "hinge"), `metadata "loss" = "hinge": want one of nll, mse, ce, sse`},
		{"variant", meta("variant", "ff"), `metadata "variant" = "ff": want one of bp, fpa, pc, scaled, zil`},
		{"steps", meta("steps", "-1"), `metadata "steps" = "-1": want an integer >= 0`},
		{"gamma", meta("gamma", "0"), `metadata "gamma" = "0": want a finite number > 0`},
		{"k", meta("k", "NaN"), `metadata "k" = "NaN": want a finite number > 0`},
		{"precisions", meta("precisions", "1,2,3"), `3 values for 2 hidden layers`},
		{"precision value", meta("precisions", "1,-2"), `want a comma-separated list of finite numbers > 0`},
		{"optimizer", meta("optimizer", "rmsprop"), `metadata "optimizer" = "rmsprop": want sgd or adam`},
		{"lr", meta("lr", "-1"), `optimizer settings: optim: lr = -1: must be a finite number > 0`},
		{"nesterov", meta("nesterov", "maybe"), `metadata "nesterov" = "maybe": want true or false`},
		{"seed", meta("seed", "-4"), `metadata "seed" = "-4": want an unsigned integer`},
		{"batch", meta("batch", "0"), `metadata "batch" = "0": want an integer >= 1`},
		{"epoch", meta("epoch", ""), `metadata "epoch" is missing`},
		{"missing weight", func(f *safetensors.File) { dropTensor(f, "layers.1.weight") }, `tensor "layers.1.weight" is missing (sizes 5,4,3,2)`},
		{"weight shape", func(f *safetensors.File) { setTensor(f, "layers.0.weight", []int{5, 4}, make([]float64, 20)) }, `tensor "layers.0.weight" has shape [5 4], want [4 5]`},
		{"bias shape", func(f *safetensors.File) { setTensor(f, "layers.2.bias", []int{1, 2}, make([]float64, 2)) }, `tensor "layers.2.bias" has shape [1 2], want [2]`},
		{"nan weight", func(f *safetensors.File) {
			d := make([]float64, 20)
			d[7] = math.NaN()
			setTensor(f, "layers.0.weight", []int{4, 5}, d)
		}, `tensor "layers.0.weight" holds NaN at index 7`},
		{"missing buffer", func(f *safetensors.File) { dropTensor(f, "optimizer.layers.2.bias.momentum_buffer") }, `tensor "optimizer.layers.2.bias.momentum_buffer" is missing`},
		{"missing step", func(f *safetensors.File) { dropTensor(f, "optimizer.layers.0.weight.step") }, `tensor "optimizer.layers.0.weight.step" is missing`},
		{"fractional step", func(f *safetensors.File) { setTensor(f, "optimizer.layers.0.bias.step", []int{}, []float64{2.5}) }, `holds 2.5, want a whole number of steps`},
		{"buffer shape", func(f *safetensors.File) {
			setTensor(f, "optimizer.layers.1.weight.momentum_buffer", []int{12}, make([]float64, 12))
		}, `tensor "optimizer.layers.1.weight.momentum_buffer" has shape [12], want [3 4]`},
		{"adam buffers for sgd", func(f *safetensors.File) {
			setTensor(f, "optimizer.layers.0.bias.exp_avg", []int{4}, make([]float64, 4))
		}, `unexpected tensor "optimizer.layers.0.bias.exp_avg"`},
		{"extra layer", func(f *safetensors.File) { setTensor(f, "layers.3.weight", []int{2, 2}, make([]float64, 4)) }, `unexpected tensor "layers.3.weight"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, decodeEdited(t, tc.edit), tc.want)
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	good := encodeBytes(t, sample(t, sgd, 1))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-10], "truncated"},
		{"empty", nil, "empty file"},
		{"garbage", []byte("this is not a checkpoint at all"), "header length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".safetensors")
			require.NoError(t, os.WriteFile(path, tc.data, 0o644))
			_, err := Load[float64](path)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Load[float64](filepath.Join(dir, "absent.safetensors"))
	require.ErrorContains(t, err, "absent.safetensors")
}

func TestFixedSettingsByFlagName(t *testing.T) {
	sgd := spec.Default()
	adam := spec.Default()
	adam.Optimizer = optim.DefaultAdam(1e-3)
	adam.PC.Precisions = []float64{1, 2, 0.5, 1}
	// A layer graph's settings (docs/design.md §11) in canonical form: the skips in
	// graph order whatever order they were given in, so that -skips 3:5,1:3 on -resume
	// matches a checkpoint of 1:3,3:5.
	skips := spec.Default()
	skips.Arch, skips.Param, skips.Skips = graph.Residual, layer.MuPC, []graph.Skip{{From: 3, To: 5}, {From: 1, To: 3}, {From: 1, To: 4}}
	for _, tc := range []struct {
		name   string
		run    spec.Run
		want   map[string]string
		absent []string
	}{
		{"sgd", sgd, map[string]string{"width": "64,64,64,64", "precisions": "", "momentum": "0.9", "weight-decay": "0", "max-train": "0", "variant": "fpa"}, []string{"beta1", "eps", "engine", "tol", "data"}},
		{"adam", adam, map[string]string{"precisions": "1,2,0.5,1", "beta2": "0.999", "eps": "1e-08", "lr": "0.001"}, []string{"momentum", "nesterov"}},
		{"chain", sgd, map[string]string{"arch": "chain", "param": "standard", "skips": ""}, nil},
		{"graph", skips, map[string]string{"arch": "residual", "param": "mupc", "skips": "1:3,1:4,3:5"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FixedSettings(&tc.run)
			for k, v := range tc.want {
				require.Equal(t, v, got[k], k)
			}
			for _, k := range tc.absent {
				require.NotContains(t, got, k)
			}
		})
	}
}
