package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

// -arch, -param, -skips and -activity-lr make a layer graph's run (docs/design.md §11);
// a bad value is one usage error naming its flag.
func TestGraphFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, r *spec.Run)
		err   string
	}{
		{"defaults: the chain of dense layers", nil, func(t *testing.T, r *spec.Run) {
			require.Equal(t, graph.Chain, r.Arch)
			require.Equal(t, layer.Standard, r.Param)
			require.Nil(t, r.Skips)
			require.False(t, r.IsGraph())
		}, ""},
		{"the brief's run", []string{"-arch", "residual", "-param", "mupc", "-activation", "relu", "-hidden", "8", "-width", "128",
			"-skips", "3:8, 1:4", "-loss", "mse", "-optimizer", "adam", "-lr", "0.1", "-activity-lr", "0.5"}, func(t *testing.T, r *spec.Run) {
			require.Equal(t, graph.Residual, r.Arch)
			require.Equal(t, layer.MuPC, r.Param)
			require.Equal(t, []graph.Skip{{From: 3, To: 8}, {From: 1, To: 4}}, r.Skips)
			require.Equal(t, 0.5/64, r.PC.Gamma, "gamma = eta / batch")
			require.Equal(t, 8, r.PC.Steps)
		}, ""},
		{"activity-lr at another batch", []string{"-activity-lr", "0.5", "-batch", "32"}, func(t *testing.T, r *spec.Run) {
			require.Equal(t, 0.5/32, r.PC.Gamma)
		}, ""},
		{"dense chain with a skip", []string{"-skips", "1:4"}, func(t *testing.T, r *spec.Run) {
			require.True(t, r.Dense())
			require.True(t, r.IsGraph())
		}, ""},
		{"skip widths", []string{"-skips", "0:5"}, nil, "-skips: widths differ: skip 0:5 adds x_0 to mu_5, but node 0 has width 784 and node 5 has width 10"},
		{"skip out of range", []string{"-skips", "0:9"}, nil, "-skips: node out of range: skip 0:9 names node 9; the nodes are 0..5 (H = 4), got 0:9"},
		{"skip syntax", []string{"-skips", "1-4"}, nil, `-skips: bad skip "1-4" (item 1 of "1-4"): want FROM:TO`},
		{"residual widths", []string{"-arch", "residual", "-width", "64,32,64,64"}, nil, "-arch: bad widths: a residual network's hidden nodes share one width, but node 1 has 64 and node 2 has 32, got residual"},
		{"arch", []string{"-arch", "tree"}, nil, `-arch "tree": want chain or residual`},
		{"param", []string{"-param", "mup"}, nil, `-param "mup": want standard or mupc`},
		{"ipc with skips", []string{"-variant", "ipc", "-skips", "1:3"}, func(t *testing.T, r *spec.Run) {
			require.Equal(t, spec.IPC, r.Algorithm)
			require.Equal(t, []graph.Skip{{From: 1, To: 3}}, r.Skips)
		}, ""},
		{"zil with skips", []string{"-variant", "zil", "-skips", "1:3"}, nil, "-variant: zil runs on graphs without long skips (this one has 1:3): with them some layers' updates equal backprop's at no inference step"},
		{"gamma and activity-lr", []string{"-gamma", "1", "-activity-lr", "0.5"}, nil, "-activity-lr and -gamma both set the inference step: give one (gamma = eta / batch)"},
		{"activity-lr 0", []string{"-activity-lr", "0"}, nil, "-activity-lr: must be a finite number > 0, got 0"},
		{"activity-lr -0.5", []string{"-activity-lr", "-0.5"}, nil, "-activity-lr: must be a finite number > 0, got -0.5"},
		{"activity-lr inf", []string{"-activity-lr", "+Inf"}, nil, "-activity-lr: must be a finite number > 0, got +Inf"},
		{"activity-lr nan", []string{"-activity-lr", "NaN"}, nil, "-activity-lr: must be a finite number > 0, got NaN"},
		{"workers on a graph", []string{"-workers", "2", "-param", "mupc", "-skips", "1:3"}, func(t *testing.T, r *spec.Run) {
			require.True(t, r.IsGraph(), "the workers host ranges of a graph's nodes")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, _, err := trainFromFlags(tc.args, io.Discard)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				var u *usageError
				require.ErrorAs(t, err, &u, "a usage error: exit status 2")
				return
			}
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
}

// A residual μPC network with long skips from the command line: train prints its
// network, eval reads its checkpoint back with the accuracy train printed, -resume takes
// the graph from it, and two epochs straight end with the weights of one epoch resumed
// for a second, bit for bit; a contradicting -skips is refused.
func TestTrainGraphRun(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-arch", "residual", "-param", "mupc", "-activation", "relu", "-hidden", "3", "-width", "32",
		"-skips", "1:3", "-loss", "sse", "-optimizer", "adam", "-lr", "0.01", "-activity-lr", "0.5", "-batch", "32",
		"-max-train", "640", "-metrics-addr", "", "-cosine-every", "5"}
	straight, stopped := filepath.Join(dir, "straight"), filepath.Join(dir, "stopped")
	r := pcnetRun(t, append(args, "-epochs", "2", "-out", straight)...)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "train fpa on 784-32-32-32-10 relu residual mupc skips 1:3, T 3, gamma 0.015625")
	m := accuracyLine.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "no accuracy line in:\n%s", r.stdout)
	path := filepath.Join(straight, "fpa-H3.safetensors")

	r = pcnetRun(t, "eval", "-checkpoint", path, "-json")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var ev train.EvalReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ev))
	require.Equal(t, m[1], fmt.Sprintf("%.2f", 100*ev.Accuracy), "eval's accuracy is train's")
	require.Equal(t, [3]string{"residual", "mupc", "1:3"}, [3]string{ev.Arch, ev.Param, ev.Skips})

	r = pcnetRun(t, append(args, "-epochs", "1", "-out", stopped)...)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	resumed := filepath.Join(stopped, "fpa-H3.safetensors")
	r = pcnetRun(t, "-resume", resumed, "-epochs", "2", "-metrics-addr", "")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "relu residual mupc skips 1:3")
	a, err := checkpoint.Load[float32](path)
	require.NoError(t, err)
	b, err := checkpoint.Load[float32](resumed)
	require.NoError(t, err)
	require.Equal(t, a.Run, b.Run)
	require.Equal(t, a.Position, b.Position)
	for l, m := range a.Maps() {
		require.Equal(t, m.Params(), b.Maps()[l].Params(), "map %d", l)
	}
	require.Equal(t, a.OptimizerState, b.OptimizerState)

	r = pcnetRun(t, "-resume", resumed, "-epochs", "3", "-arch", "chain", "-metrics-addr", "")
	require.Equal(t, 2, r.code)
	require.Contains(t, oneLine(t, r), fmt.Sprintf("-arch chain does not match the checkpoint %s (arch residual)", resumed))

	// compare on the checkpoint's graph: FPA at gamma 1 and T = H is backprop on it.
	r = pcnetRun(t, "compare", "-checkpoint", path, "-variants", "fpa", "-gamma", "1", "-json")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var rep train.UpdateReport[float32]
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, "residual", rep.Network.Arch)
	require.Equal(t, 0.0, float64(rep.Variants[0].All.RelErr))
}

// convertMaps keeps what a pre-activation map is besides its weights (the activation, the
// multiplier, the identity skip of a residual network) when eval or compare converts a
// graph checkpoint to another precision, and the weights as tensor.Convert rounds them.
func TestConvertGraphMaps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		arch  graph.Shape
		param layer.Param
	}{
		{"residual mupc", graph.Residual, layer.MuPC},
		{"residual standard", graph.Residual, layer.Standard},
		{"chain mupc", graph.Chain, layer.MuPC},
		{"chain standard", graph.Chain, layer.Standard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := spec.Default()
			r.Sizes, r.Activation, r.Arch, r.Param, r.Precision = []int{6, 5, 5, 5, 3}, layer.ReLU, tc.arch, tc.param, spec.F32
			maps, err := spec.InitialMapsOf[float32](&r)
			require.NoError(t, err)
			c := &checkpoint.Checkpoint[float32]{Run: r}
			require.NoError(t, c.SetMaps(maps))
			got := convertMaps[float64](c)
			require.Len(t, got, len(maps))
			for l, m := range maps {
				switch p := m.(type) {
				case *layer.PreAct[float32]:
					require.IsType(t, &layer.PreAct[float64]{}, got[l], "map %d", l)
					q := got[l].(*layer.PreAct[float64])
					require.Equal(t, [3]any{p.Act, p.Scale, p.Skip}, [3]any{q.Act, q.Scale, q.Skip}, "map %d", l)
				case *layer.Dense[float32]:
					require.IsType(t, &layer.Dense[float64]{}, got[l], "map %d", l)
					require.Equal(t, p.Act, got[l].(*layer.Dense[float64]).Act, "map %d", l)
				}
				require.Len(t, got[l].Params(), len(m.Params()))
				for i, p := range m.Params() {
					var want []float64
					for _, v := range p {
						want = append(want, float64(v))
					}
					require.Equal(t, len(want), len(got[l].Params()[i]), "map %d tensor %d", l, i)
					if len(want) > 0 {
						require.Equal(t, want, got[l].Params()[i], "map %d tensor %d", l, i)
					}
				}
			}
		})
	}
}

// compare -checkpoint reconciles the graph flags as train -resume does: not given, they
// are the checkpoint's graph; given, they must agree with it.
func TestCompareReconcilesGraphFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.safetensors")
	r := spec.Default()
	r.Sizes, r.Skips, r.Precision = []int{784, 16, 16, 16, 10}, []graph.Skip{{From: 1, To: 3}}, spec.F64
	maps, err := spec.InitialMapsOf[float64](&r)
	require.NoError(t, err)
	c := &checkpoint.Checkpoint[float64]{Run: r}
	require.NoError(t, c.SetMaps(maps))
	require.NoError(t, checkpoint.Save(path, c))
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"from the checkpoint", nil, ""},
		{"agreeing", []string{"-arch", "chain", "-param", "standard", "-skips", "1:3"}, ""},
		{"another skip", []string{"-skips", "2:4"}, "-skips 2:4 does not match the checkpoint " + path + " (skips 1:3)"},
		{"no skips", []string{"-skips", ""}, "-skips  does not match the checkpoint " + path + " (skips 1:3)"},
		{"another param", []string{"-param", "mupc"}, "-param mupc does not match the checkpoint " + path + " (param standard)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCompareFlags()
			require.NoError(t, parseFlags(f.fs, append([]string{"-checkpoint", path, "-variants", "fpa"}, tc.args...), io.Discard))
			cmp, err := f.resolve()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, r.Skips, cmp.runs[0].Skips)
			require.Equal(t, [2]any{graph.Chain, layer.Standard}, [2]any{cmp.runs[0].Arch, cmp.runs[0].Param})
		})
	}
}
