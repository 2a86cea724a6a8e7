package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/pcnet/pcnet/internal/render"
)

// The benchmarks with a precision= level (BPStep, PCUpdate, EventVsBP and the GEMM ones)
// are read with their float64 results under the names without the level, which the rest
// of the report uses and which runs from before the level wrote; float32 results keep it.
func withoutF64Level(name string) string {
	return strings.Replace(name, "/precision=f64/", "/", 1)
}

// precisionNets are issue 18's networks (H, width) of the PyTorch comparison.
var precisionNets = [][2]int{{2, 64}, {8, 256}, {8, 1024}}

// precisionName is the name the report reads a benchmark with a precision= level under
// (withoutF64Level): bench's name at prec, followed by the levels rest.
func precisionName(bench, prec, rest string) string {
	return withoutF64Level(fmt.Sprintf("Benchmark%s/precision=%s/%s", bench, prec, rest))
}

// bpStepName is BPStep's name at a precision ("f32" or "f64").
func bpStepName(prec string, h, w int) string {
	return precisionName("BPStep", prec, fmt.Sprintf("H=%d/width=%d/batch=64", h, w))
}

// eventVsBPName is EventVsBP's name at a precision.
func eventVsBPName(prec, engine string, h, w int) string {
	return precisionName("EventVsBP", prec, fmt.Sprintf("engine=%s/H=%d/width=%d/batch=64", engine, h, w))
}

// torchAt is PyTorch's step in nanoseconds for a network, dtype and thread count.
func torchAt(th []torchResult, h, w int, dtype string, threads int) float64 {
	for _, t := range th {
		if t.L == h && t.Width == w && t.DType == dtype && t.Threads == threads {
			return t.StepUS * 1e3
		}
	}
	return math.NaN()
}

// precisionTarget is one of issue 18's speed targets with the figures that judge it.
type precisionTarget struct {
	what    string
	figures []string
	worst   float64
	atMost  bool // the bound is an upper one (a ratio of times); else a lower one
	bound   float64
}

func (t precisionTarget) status() string {
	switch {
	case math.IsNaN(t.worst):
		return "not measured"
	case t.atMost && t.worst <= t.bound, !t.atMost && t.worst >= t.bound:
		return "met"
	}
	return "**not met**"
}

// writePrecision writes issue 18's section: pcnet's BP step in float32 and float64 on 1
// and 2 cores against PyTorch at 1 and 2 threads, the speed-up from 1 to 2 cores, exact
// FPA-PC against BP in both precisions, and the float32 GEMM against the FMA peak, each
// target with its worst figure. It writes nothing when the run has no float32 BP step.
func writePrecision(b *render.Markdown, rs results, th []torchResult) {
	if len(rs.values("BenchmarkBPStep/precision=f32", "H")) == 0 {
		return
	}
	fmt.Fprintf(b, "## Float32 and float64, one and two cores\n\n")
	fmt.Fprintf(b, "Issue 18's comparison. BenchmarkBPStep: one BP training step (forward, backward, SGD with momentum 0.9) at batch 64, 784-[w tanh]xH-10, NLL, median at each core count (-cpu 1 and 2), against PyTorch's step at the same precision and 1 or 2 threads (bench/torch/torch_mlp_bench.py, in brackets in the last table: the CPUs other processes used meanwhile). Ratio = pcnet / PyTorch (<= 1: pcnet is faster).\n\n")
	header := []string{"network"}
	for _, prec := range []string{"f32", "f64"} {
		for _, p := range []int{1, 2} {
			header = append(header, fmt.Sprintf("pcnet %s, %d core(s)", prec, p), fmt.Sprintf("PyTorch %s, %d thread(s)", prec, p), "ratio")
		}
	}
	var rows [][]string
	for _, n := range precisionNets {
		h, w := n[0], n[1]
		row := []string{fmt.Sprintf("784-[%d]x%d-10", w, h)}
		for _, prec := range []string{"f32", "f64"} {
			for _, p := range []int{1, 2} {
				g, t := rs.median(bpStepName(prec, h, w), p), torchAt(th, h, w, dtypeOf(prec), p)
				row = append(row, render.Nanos(g), render.Nanos(t), render.Ratio(g, t))
			}
		}
		rows = append(rows, row)
	}
	b.Table(header, rows)

	targets := []precisionTarget{
		bpTarget(rs, th, "f32", 1, 0.8), bpTarget(rs, th, "f32", 2, 1.0), bpTarget(rs, th, "f64", 2, 0.8),
		speedupTarget(rs, "f32"), speedupTarget(rs, "f64"),
	}
	for _, prec := range []string{"f32", "f64"} {
		for _, p := range []int{1, 2} {
			targets = append(targets, eventTarget(rs, prec, p))
		}
	}
	targets = append(targets, gemmTarget(rs))
	fmt.Fprintf(b, "\nThe speed-up from 1 to 2 cores is judged on the median of BenchmarkBPSpeedupPaired (*paired*: a step on one core and a step on two alternate in one loop, so the host's drift falls on both) where the run has it; the ratio of BPStep's medians at -cpu 1 and 2 (*unpaired*) follows it, and judges the target only where there is no paired figure.\n")
	fmt.Fprintf(b, "\n| target | figures | worst | |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.what, strings.Join(t.figures, ", "), render.Sig(t.worst), t.status())
	}
	b.WriteString("\n")
	torchTable(b, th)
	b.WriteString("\n")
}

func dtypeOf(prec string) string {
	if prec == "f32" {
		return "float32"
	}
	return "float64"
}

func bpTarget(rs results, th []torchResult, prec string, procs int, bound float64) precisionTarget {
	t := precisionTarget{what: fmt.Sprintf("BP step %s / PyTorch %s, %d core(s) and thread(s): <= %g", prec, prec, procs, bound), atMost: true, bound: bound}
	var ratios []float64
	for _, n := range precisionNets {
		r := rs.median(bpStepName(prec, n[0], n[1]), procs) / torchAt(th, n[0], n[1], dtypeOf(prec), procs)
		t.figures = append(t.figures, fmt.Sprintf("%s ([%d]x%d)", render.Sig(r), n[1], n[0]))
		ratios = append(ratios, r)
	}
	t.worst = largest(ratios)
	return t
}

// speedupTarget judges BP's speed-up from 1 to 2 cores at [1024]x8. BenchmarkBPSpeedupPaired
// (speedup.txt) times both core counts in one loop, so the host's drift between them
// cancels: where it ran, its median speed-up is the figure the target uses. The ratio of
// BPStep's medians at -cpu 1 and -cpu 2, timed apart, follows as the unpaired figure; it
// judges the target only in a run without the paired benchmark.
func speedupTarget(rs results, prec string) precisionTarget {
	t := precisionTarget{what: fmt.Sprintf("BP speed-up 1 -> 2 cores, %s, [1024]x8: >= 1.7", prec), bound: 1.7, worst: math.NaN()}
	paired := rs.metric(bpSpeedupPairedName(prec, 8, 1024), 2, "speedup")
	name := bpStepName(prec, 8, 1024)
	unpaired := rs.median(name, 1) / rs.median(name, 2)
	if !math.IsNaN(paired) {
		t.figures = append(t.figures, render.Sig(paired)+" (paired)")
		t.worst = paired
	}
	if !math.IsNaN(unpaired) {
		t.figures = append(t.figures, render.Sig(unpaired)+" (unpaired)")
		if math.IsNaN(paired) {
			t.worst = unpaired
		}
	}
	return t
}

// bpSpeedupPairedName is BPSpeedupPaired's name at a precision, as the report reads it.
func bpSpeedupPairedName(prec string, h, w int) string {
	return precisionName("BPSpeedupPaired", prec, fmt.Sprintf("H=%d/width=%d/batch=64", h, w))
}

// eventTarget judges exact FPA-PC (event schedule, gamma 1, T = H) against BP at width >=
// 256, both engines, from BenchmarkEventVsBP's paired pc/bp.
func eventTarget(rs results, prec string, procs int) precisionTarget {
	t := precisionTarget{what: fmt.Sprintf("FPA-PC (event) / BP, %s, %d core(s), both engines, width >= 256: <= 1.15", prec, procs), atMost: true, bound: 1.15}
	var ratios []float64
	for _, e := range engines {
		for _, h := range rs.values("BenchmarkEventVsBP", "H") {
			for _, w := range rs.values("BenchmarkEventVsBP", "width") {
				if w < 256 {
					continue
				}
				r := rs.metric(eventVsBPName(prec, e, h, w), procs, "pc/bp")
				if math.IsNaN(r) {
					continue
				}
				t.figures = append(t.figures, fmt.Sprintf("%s (%s H%d w%d)", render.Sig(r), e[:3], h, w))
				ratios = append(ratios, r)
			}
		}
	}
	t.worst = largest(ratios)
	return t
}

// gemmTarget is the float32 GEMM at 64x1024x1024 against the float32 FMA peak, both per
// core (the calling thread's CPU time at -cpu 1), on the widest kernel measured.
func gemmTarget(rs results) precisionTarget {
	t := precisionTarget{what: "float32 GEMM 64x1024x1024 / float32 FMA peak, per core: >= 0.7", bound: 0.7, worst: math.NaN()}
	for _, k := range []string{"avx512", "avx2"} {
		g := rs.metric(fmt.Sprintf("BenchmarkGemm/precision=f32/nn/64x1024x1024/%s", gemmKernelName(k)), 1, "GFLOP/s(cpu)")
		peak := rs.metric(fmt.Sprintf("BenchmarkFMAPeak/precision=f32/%s", k), 1, "GFLOP/s(cpu)")
		if r := g / peak; !math.IsNaN(r) {
			t.figures = append(t.figures, fmt.Sprintf("%s: %s of %s GFLOP/s", k, render.Sig(g), render.Sig(peak)))
			t.worst = r
			return t
		}
	}
	return t
}

// gemmKernelName is internal/gemm's name of its float32 micro-kernel on an instruction set.
func gemmKernelName(isa string) string {
	if isa == "avx512" {
		return "avx512-8x32-f32"
	}
	return "avx2-6x16-f32"
}

// largest is the largest of vs, NaN when vs is empty or has a NaN (a missing figure
// leaves a target unjudged).
func largest(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	m := vs[0]
	for _, v := range vs {
		if math.IsNaN(v) {
			return math.NaN()
		}
		m = math.Max(m, v)
	}
	return m
}
