package pcnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/safetensors"
)

// TestIncrementalMatchesPyTorchReference runs one batch of iPC on both engines and
// compares the weights it ends with and its summed update with testdata/ipc_torch.py, an
// independent implementation of docs/design.md §8 on PyTorch's autograd and torch.optim, to
// 1e-10. Under CI=true a missing torch is a failure; elsewhere the test skips.
func TestIncrementalMatchesPyTorchReference(t *testing.T) {
	needTorch(t)
	for _, tc := range []struct {
		name string
		opt  optim.Config
	}{
		{"sgd", optim.Config{Kind: optim.SGD, LR: 0.2}},
		{"momentum", optim.Config{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}},
		{"adam", optim.DefaultAdam(0.02)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const h, T, gamma = 3, 5, 0.4
			f := newBatchFixture(h, 31, 5)
			precisions := []float64{0.5, 1.5, 2}
			problem := filepath.Join(t.TempDir(), "problem.safetensors")
			writeProblem(t, problem, f, tc.opt, T, gamma, precisions)

			cmd := exec.Command(torchPython, filepath.Join("testdata", "ipc_torch.py"), problem)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			require.NoError(t, err, "ipc_torch.py: %s", stderr.String())
			var want struct {
				Layers  [][2][]float64
				Updates [][2][]float64
			}
			require.NoError(t, json.Unmarshal(stdout, &want))
			require.Len(t, want.Layers, h+1)

			for _, eng := range engines {
				layers := layer.CloneAll[float64](f.layers)
				net, err := New(context.Background(), layers, Config{Variant: Incremental, Steps: T, Gamma: gamma,
					Precisions: precisions, Engine: eng, Optimizer: tc.opt})
				require.NoError(t, err)
				_, err = net.Learn(batchCtx(t), f.x, f.labels)
				require.NoError(t, err)
				for l := range layers {
					for i, got := range layers[l].Params() {
						require.InDeltaSlice(t, want.Layers[l][i], got, 1e-10, "%s: layer %d tensor %d", eng, l, i)
					}
					for i, got := range net.Updates()[l].Params() {
						require.InDeltaSlice(t, want.Updates[l][i], got, 1e-10, "%s: update of layer %d tensor %d", eng, l, i)
					}
				}
				require.NoError(t, net.Close())
			}
		})
	}
}

func writeProblem(t *testing.T, path string, f *fixture, opt optim.Config, steps int, gamma float64, precisions []float64) {
	t.Helper()
	rows, cols := f.x.Dims()
	labels := make([]float64, len(f.labels))
	for i, y := range f.labels {
		labels[i] = float64(y)
	}
	ps := make([]string, len(precisions))
	for i, p := range precisions {
		ps[i] = strconv.FormatFloat(p, 'g', -1, 64)
	}
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	file := &safetensors.File{
		Metadata: map[string]string{
			"steps": strconv.Itoa(steps), "gamma": ff(gamma), "precisions": strings.Join(ps, ","),
			"optimizer": opt.Kind.String(), "lr": ff(opt.LR), "momentum": ff(opt.Momentum),
			"beta1": ff(opt.Beta1), "beta2": ff(opt.Beta2), "eps": ff(opt.Eps),
		},
		Tensors: []safetensors.Tensor{
			{Name: "input", Shape: []int{rows, cols}, Data: append([]float64{}, f.x.Data...)},
			{Name: "labels", Shape: []int{len(labels)}, Data: labels},
		},
	}
	for l, d := range f.layers {
		p := d.Params()
		file.Tensors = append(file.Tensors,
			safetensors.Tensor{Name: fmt.Sprintf("layers.%d.weight", l), Shape: []int{d.Out(), d.In()}, Data: append([]float64{}, p[0]...)},
			safetensors.Tensor{Name: fmt.Sprintf("layers.%d.bias", l), Shape: []int{d.Out()}, Data: append([]float64{}, p[1]...)})
	}
	require.NoError(t, safetensors.WriteFileAtomic(path, file))
}
