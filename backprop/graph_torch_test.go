package backprop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/tensor"
)

// TestGraphMatchesPyTorchReference compares GraphNet's output, loss and gradients on
// every shape of graphCases with testdata/graph_torch.py, an independent implementation of
// docs/design.md §11 on PyTorch's autograd, in float64 to 1e-10. Under CI=true a missing
// torch is a failure; elsewhere the test skips.
func TestGraphMatchesPyTorchReference(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs %s with torch (apt-get install python3-torch): %v", python, err)
		}
		t.Skipf("%s has no torch: %v", python, err)
	}
	dir := t.TempDir()
	nets := make([]*GraphNet[float64], len(graphCases))
	args := []string{filepath.Join("testdata", "graph_torch.py")}
	for k, c := range graphCases {
		nets[k] = build[float64](t, c, 13)
		x, y := torchBatch(c)
		problem := filepath.Join(dir, fmt.Sprintf("problem%d.safetensors", k))
		writeGraphProblem(t, problem, c, nets[k], x.Data, y)
		args = append(args, problem)
	}
	cmd := exec.Command(python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "graph_torch.py: %s", stderr.String())
	var wants []struct {
		Loss   float64
		Output []float64
		Grads  [][2][]float64
	}
	require.NoError(t, json.Unmarshal(stdout, &wants))
	require.Len(t, wants, len(graphCases))

	for k, c := range graphCases {
		t.Run(c.name, func(t *testing.T) {
			net, want := nets[k], wants[k]
			require.Len(t, want.Grads, len(net.Maps))
			x, y := torchBatch(c)
			grads := net.NewGrads()
			loss := net.Gradients(grads, x, y)
			require.InDelta(t, want.Loss, loss, 1e-10)
			require.InDeltaSlice(t, want.Output, net.Forward(x).Data, 1e-10)
			for l, g := range grads {
				for i, got := range g.Params() {
					require.Len(t, got, len(want.Grads[l][i]), "map %d tensor %d", l, i)
					if len(got) > 0 {
						require.InDeltaSlice(t, want.Grads[l][i], got, 1e-10, "map %d tensor %d", l, i)
					}
				}
			}
		})
	}
}

// torchBatch is the batch of case c, the same at every call.
func torchBatch(c graphCase) (*tensor.Matrix[float64], []int) {
	return randBatch(rand.New(rand.NewPCG(14, 0)), 7, c.widths[0], c.widths[len(c.widths)-1])
}

func writeGraphProblem(t *testing.T, path string, c graphCase, net *GraphNet[float64], x []float64, labels []int) {
	t.Helper()
	ys := make([]float64, len(labels))
	for i, v := range labels {
		ys[i] = float64(v)
	}
	maps, arch := "preact", "chain"
	if c.dense {
		maps = "dense"
	}
	if c.shape == graph.Residual {
		arch = "residual"
	}
	file := &safetensors.File{
		Metadata: map[string]string{"maps": maps, "arch": arch, "param": c.param.String(), "act": c.act.String(),
			"loss": c.loss.Name(), "skips": c.skips},
		Tensors: []safetensors.Tensor{
			safetensors.NewTensor("input", []int{len(labels), len(x) / len(labels)}, x),
			safetensors.NewTensor("labels", []int{len(ys)}, ys),
		},
	}
	for l, m := range net.Maps {
		p := m.Params()
		file.Tensors = append(file.Tensors, safetensors.NewTensor(fmt.Sprintf("layers.%d.weight", l), []int{m.Out(), m.In()}, p[0]))
		if p[1] != nil {
			file.Tensors = append(file.Tensors, safetensors.NewTensor(fmt.Sprintf("layers.%d.bias", l), []int{m.Out()}, p[1]))
		}
	}
	require.NoError(t, safetensors.WriteFileAtomic(path, file))
}
