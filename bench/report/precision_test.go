package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/internal/render"
)

// precisionRaw is what GRID=precision measures, cut down: BP steps in both precisions at
// 1 and 2 cores, the paired BP speed-up (float64 only, width 256 too: the target reads
// width 1024), the paired EventVsBP, and the float32 GEMM and FMA peak.
const precisionRaw = `BenchmarkBPStep/precision=f32/H=2/width=64/batch=64      1000   300000 ns/op
BenchmarkBPStep/precision=f32/H=2/width=64/batch=64-2    1000   280000 ns/op
BenchmarkBPStep/precision=f32/H=8/width=256/batch=64     100   2500000 ns/op
BenchmarkBPStep/precision=f32/H=8/width=256/batch=64-2   100   1600000 ns/op
BenchmarkBPStep/precision=f32/H=8/width=1024/batch=64    10   40000000 ns/op
BenchmarkBPStep/precision=f32/H=8/width=1024/batch=64-2  10   21000000 ns/op
BenchmarkBPStep/precision=f64/H=2/width=64/batch=64      1000   350000 ns/op
BenchmarkBPStep/precision=f64/H=2/width=64/batch=64-2    1000   340000 ns/op
BenchmarkBPStep/precision=f64/H=8/width=256/batch=64     100   5000000 ns/op
BenchmarkBPStep/precision=f64/H=8/width=256/batch=64-2   100   3000000 ns/op
BenchmarkBPStep/precision=f64/H=8/width=1024/batch=64    10   80000000 ns/op
BenchmarkBPStep/precision=f64/H=8/width=1024/batch=64-2  10   50000000 ns/op
BenchmarkEventVsBP/precision=f32/engine=sequential/H=8/width=256/batch=64   10  1 ns/op  1.05 pc/bp
BenchmarkEventVsBP/precision=f32/engine=parallel/H=8/width=256/batch=64     10  1 ns/op  1.30 pc/bp
BenchmarkEventVsBP/precision=f64/engine=sequential/H=8/width=256/batch=64   10  1 ns/op  1.02 pc/bp
BenchmarkEventVsBP/precision=f64/engine=parallel/H=8/width=256/batch=64     10  1 ns/op  1.10 pc/bp
BenchmarkBPSpeedupPaired/precision=f64/H=8/width=1024/batch=64-2   1  160000000 ns/op  80000000 1core-ns/op  45000000 2core-ns/op  1.78 speedup
BenchmarkBPSpeedupPaired/precision=f64/H=8/width=1024/batch=64-2   1  160000000 ns/op  80000000 1core-ns/op  47000000 2core-ns/op  1.70 speedup
BenchmarkBPSpeedupPaired/precision=f64/H=8/width=1024/batch=64-2   1  160000000 ns/op  80000000 1core-ns/op  46000000 2core-ns/op  1.74 speedup
BenchmarkBPSpeedupPaired/precision=f64/H=8/width=256/batch=64-2    1  160000000 ns/op  80000000 1core-ns/op  46000000 2core-ns/op  1.10 speedup
BenchmarkGemm/precision=f32/nn/64x1024x1024/avx512-8x32-f32   100  1 ns/op  150 GFLOP/s(cpu)
BenchmarkFMAPeak/precision=f32/avx512                         100  1 ns/op  200 GFLOP/s(cpu)
`

const precisionTorch = `{"L": 2, "width": 64, "step_us": 435.0, "dtype": "float32", "threads": 1, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 2, "width": 64, "step_us": 470.0, "dtype": "float32", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 256, "step_us": 3720.0, "dtype": "float32", "threads": 1, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 256, "step_us": 3650.0, "dtype": "float32", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 1024, "step_us": 55900.0, "dtype": "float32", "threads": 1, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 1024, "step_us": 41200.0, "dtype": "float32", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 2, "width": 64, "step_us": 950.0, "dtype": "float64", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 256, "step_us": 6500.0, "dtype": "float64", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
{"L": 8, "width": 1024, "step_us": 79000.0, "dtype": "float64", "threads": 2, "bg_cpus": 0.0, "repeats": 7, "torch_version": "1.13.0a0"}
`

func TestPrecisionSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "torch.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(precisionTorch), 0o644))
	th, err := readTorch(path)
	require.NoError(t, err)
	rs := results{}
	require.NoError(t, rs.read(strings.NewReader(precisionRaw)))
	require.Contains(t, rs, key{"BenchmarkBPStep/H=8/width=256/batch=64", 2}, "float64 under the name without the level")
	require.Contains(t, rs, key{"BenchmarkBPStep/precision=f32/H=8/width=256/batch=64", 2})

	var b render.Markdown
	writePrecision(&b, rs, th)
	got := b.String()
	for _, want := range []string{
		"| 784-[256]x8-10 | 2.50 ms | 3.72 ms | 0.67 | 1.60 ms | 3.65 ms | 0.44 | 5.00 ms | – | – | 3.00 ms | 6.50 ms | 0.46 |",
		"| BP step f32 / PyTorch f32, 1 core(s) and thread(s): <= 0.8 | 0.69 ([64]x2), 0.672 ([256]x8), 0.716 ([1024]x8) | 0.716 | met |",
		"| BP step f64 / PyTorch f64, 2 core(s) and thread(s): <= 0.8 | 0.358 ([64]x2), 0.462 ([256]x8), 0.633 ([1024]x8) | 0.633 | met |",
		// No paired figure in float32: the ratio of BPStep's medians judges it.
		"| BP speed-up 1 -> 2 cores, f32, [1024]x8: >= 1.7 | 1.9 (unpaired) | 1.9 | met |",
		// In float64 the paired median (of 1.78, 1.70, 1.74) judges it, not the unpaired 1.6.
		"| BP speed-up 1 -> 2 cores, f64, [1024]x8: >= 1.7 | 1.74 (paired), 1.6 (unpaired) | 1.74 | met |",
		"FPA-PC (event) / BP, f32, 1 core(s), both engines, width >= 256: <= 1.15 | 1.3 (par H8 w256), 1.05 (seq H8 w256) | 1.3 | **not met** |",
		"FPA-PC (event) / BP, f64, 2 core(s), both engines, width >= 256: <= 1.15 |  | – | not measured |",
		"| float32 GEMM 64x1024x1024 / float32 FMA peak, per core: >= 0.7 | avx512: 150 of 200 GFLOP/s | 0.75 | met |",
	} {
		require.Contains(t, got, want)
	}

	// The whole report on a precision-only run, as GRID=precision writes with nothing kept.
	var all render.Markdown
	require.NoError(t, write(&all, rs, th, dir, "."))
	require.Contains(t, all.String(), "## Float32 and float64, one and two cores")
}
