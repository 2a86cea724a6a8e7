package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/internal/render"
)

// torchRaw is torch_mlp_bench.py output of the shape bench/run.sh writes: float32 at one and
// two threads, float64 at one, three networks, one of them measured on a busy machine.
const torchRaw = `{"L": 2, "width": 1024, "step_us": 55900.0, "dtype": "float32", "threads": 1, "bg_cpus": 0.01, "repeats": 7, "torch_version": "1.13.0a0", "H": 2}
{"L": 8, "width": 64, "step_us": 817.0, "dtype": "float64", "threads": 1, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0", "H": 8}
{"L": 2, "width": 64, "step_us": 435.0, "dtype": "float32", "threads": 1, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0", "H": 2}
{"L": 2, "width": 64, "step_us": 470.0, "dtype": "float32", "threads": 2, "bg_cpus": 1.5, "repeats": 7, "torch_version": "1.13.0a0", "H": 2}

{"L": 2, "width": 64, "step_us": 950.0, "dtype": "float64", "threads": 1, "bg_cpus": 0.02, "repeats": 7, "torch_version": "1.13.0a0", "H": 2}
`

func TestTorchTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "torch.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(torchRaw), 0o644))
	th, err := readTorch(path)
	require.NoError(t, err)
	require.Len(t, th, 5)
	require.Equal(t, 7, th[0].Repeats)

	var b render.Markdown
	torchTable(&b, th)
	got := b.String()
	for _, want := range []string{
		"Every PyTorch 1.13.0a0 timing of this run: median of one training step over 7 repeats",
		"| network | float32, 1 thread | float32, 2 threads | float64, 1 thread |",
		"| 784-[64]x2-10 | 435 µs (0.00) | 470 µs (1.50) | 950 µs (0.02) |",
		"| 784-[64]x8-10 |  |  | 817 µs (0.00) |",
		"| 784-[1024]x2-10 | 56 ms (0.01) |  |  |",
	} {
		require.Contains(t, got, want)
	}
	require.Less(t, strings.Index(got, "[64]x8"), strings.Index(got, "[1024]x2"), "networks by width, then depth")
	require.Less(t, strings.Index(got, "[64]x2"), strings.Index(got, "[64]x8"), "networks by width, then depth")

	var empty render.Markdown
	torchTable(&empty, nil)
	require.Empty(t, empty.String())
}
