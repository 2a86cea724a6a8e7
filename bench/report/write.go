package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var (
	variants = []string{"fpa", "pc", "zil"}
	engines  = []string{"parallel", "sequential"}
)

func write(b *strings.Builder, rs results, th []torchResult, plotDir, plotRel string) error {
	procs := rs.procs()
	maxP := procs[len(procs)-1]
	depths := rs.values("BenchmarkPCUpdate", "H")
	widths := rs.values("BenchmarkPCUpdate", "width")
	handoff := rs.median("BenchmarkHandoff/buffers=2", 1)
	if math.IsNaN(handoff) {
		handoff = rs.median("BenchmarkHandoff/buffers=2", maxP)
	}

	bpVsTorch(b, rs, th)

	fmt.Fprintf(b, "## PC update against a BP step\n\n")
	fmt.Fprintf(b, "Median time per weight update at batch 64 on %d core(s) (T = H; FPA-PC and Z-IL with gamma 1, standard PC with gamma 0.1), and its ratio to a BP step on the same network. The paper's bound (Result 3) is PC/BP >= 1.\n\n", maxP)
	for _, w := range widths {
		fmt.Fprintf(b, "### width %d\n\n| H | BP step |", w)
		for _, v := range variants {
			for _, e := range engines {
				fmt.Fprintf(b, " %s %s | PC/BP |", v, e)
			}
		}
		b.WriteString("\n|---|---|")
		b.WriteString(strings.Repeat("---|---|", len(variants)*len(engines)))
		b.WriteString("\n")
		for _, h := range depths {
			bp := rs.median(bpName(h, w, 64), maxP)
			fmt.Fprintf(b, "| %d | %s |", h, us(bp))
			for _, v := range variants {
				for _, e := range engines {
					pc := rs.median(pcName(v, e, h, w, 64), maxP)
					fmt.Fprintf(b, " %s | %s |", us(pc), ratio(pc, bp))
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		name := fmt.Sprintf("time-vs-H-width%d.png", w)
		if err := plotTimeVsH(rs, w, maxP, depths, filepath.Join(plotDir, name)); err != nil {
			return err
		}
		fmt.Fprintf(b, "![time per update vs H, width %d](%s)\n\n", w, filepath.Join(plotRel, name))
	}

	fmt.Fprintf(b, "## Speed-up of the parallel engine\n\nTime on 1 core divided by time on N cores, FPA-PC, batch 64 (measured).\n\n| width | H |")
	for _, p := range procs[1:] {
		fmt.Fprintf(b, " %d cores |", p)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(procs)-1) + "\n")
	for _, w := range widths {
		for _, h := range depths {
			t1 := rs.median(pcName("fpa", "parallel", h, w, 64), 1)
			fmt.Fprintf(b, "| %d | %d |", w, h)
			for _, p := range procs[1:] {
				fmt.Fprintf(b, " %s |", ratio(t1, rs.median(pcName("fpa", "parallel", h, w, 64), p)))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "## Hand-off overhead\n\n")
	fmt.Fprintf(b, "One message between two layer goroutines (channels' BenchmarkHandoff, 2 buffers: acquire, send, receive, release) costs %s on one core and %s on %d. Under FPA-PC a hidden node sends one error and receives one per step, so a step costs it about one message in hand-offs, against its arithmetic: an input VJP with the gating and the error step (BenchmarkLayerOp/op=inputvjp):\n\n| width | step arithmetic | hand-off share of a step (1 core) | (%d cores) |\n|---|---|---|---|\n", us(handoff), us(rs.median("BenchmarkHandoff/buffers=2", maxP)), maxP, maxP)
	for _, w := range widths {
		step := rs.median(opName("inputvjp", w, w, 64), 1)
		fmt.Fprintf(b, "| %d | %s | %.1f%% | %.1f%% |\n", w, us(step), 100*handoff/step, 100*rs.median("BenchmarkHandoff/buffers=2", maxP)/step)
	}
	fmt.Fprintf(b, "\nOn one core the parallel engine does the sequential engine's arithmetic plus the channel hand-offs, so (parallel - sequential) / sequential at GOMAXPROCS 1 would be the share of a step the hand-offs cost; in practice it is dominated by run-to-run noise of this shared machine and by the engines' different memory traffic (the sequential engine sweeps every layer's buffers once per step), so read the direct figure above. Batch 64.\n\n| width | H | fpa | pc | zil |\n|---|---|---|---|---|\n")
	for _, w := range widths {
		for _, h := range depths {
			fmt.Fprintf(b, "| %d | %d |", w, h)
			for _, v := range variants {
				par, seq := rs.median(pcName(v, "parallel", h, w, 64), 1), rs.median(pcName(v, "sequential", h, w, 64), 1)
				if math.IsNaN(par + seq) {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(b, " %+.1f%% |", 100*(par-seq)/seq)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "## Allocations\n\nAllocations per PC update after warm-up (median allocs/op over every PC benchmark run, by variant and engine): ")
	var parts []string
	for _, v := range variants {
		for _, e := range engines {
			worst := 0.0
			for k := range rs {
				if strings.Contains(k.name, "variant="+v+"/engine="+e+"/") {
					worst = max(worst, rs.metric(k.name, k.procs, "allocs/op"))
				}
			}
			parts = append(parts, fmt.Sprintf("%s %s: %g", v, e, worst))
		}
	}
	b.WriteString(strings.Join(parts, "; ") + " (the largest median over all settings).\n\n")

	return writeModel(b, rs, depths, widths, procs, handoff, plotDir, plotRel)
}

func bpVsTorch(b *strings.Builder, rs results, th []torchResult) {
	fmt.Fprintf(b, "## BP step against PyTorch\n\nMedian time of one BP training step (forward, backward, SGD with momentum) at batch 64, float64, one core, per matrix kernel (BenchmarkBPKernel), against PyTorch 1.13 + OpenBLAS on one thread measured in the same sitting (`shared/refs/torch_mlp_bench.py`). Ratio = pcnet / PyTorch float64 (<= 1: pcnet is faster).\n\n")
	var kernels []string
	for k := range rs {
		if rest, ok := strings.CutPrefix(k.name, "BenchmarkBPKernel/kernel="); ok {
			name, _, _ := strings.Cut(rest, "/")
			if !contains(kernels, name) {
				kernels = append(kernels, name)
			}
		}
	}
	sort.Strings(kernels)
	b.WriteString("| network | PyTorch f64 | PyTorch f32 |")
	for _, k := range kernels {
		fmt.Fprintf(b, " pcnet, %s | ratio |", k)
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|---|", len(kernels)) + "\n")
	for _, n := range [][2]int{{2, 64}, {8, 64}, {8, 1024}} {
		h, w := n[0], n[1]
		t64, t32 := torchStep(th, h, w, "float64"), torchStep(th, h, w, "float32")
		fmt.Fprintf(b, "| 784-[%d]x%d-10 | %s | %s |", w, h, us(t64), us(t32))
		for _, k := range kernels {
			g := rs.median(fmt.Sprintf("BenchmarkBPKernel/kernel=%s/H=%d/width=%d/batch=64", k, h, w), 1)
			fmt.Fprintf(b, " %s | %s |", us(g), ratio(g, t64))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func torchStep(th []torchResult, h, w int, dtype string) float64 {
	for _, t := range th {
		if t.L == h && t.Width == w && t.DType == dtype && t.Threads == 1 {
			return t.StepUS * 1e3
		}
	}
	return math.NaN()
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func writeModel(b *strings.Builder, rs results, depths, widths, procs []int, handoff float64, plotDir, plotRel string) error {
	fmt.Fprintf(b, "## A model of the parallel engine\n\n")
	fmt.Fprintf(b, "The model (bench/model.go) is the ideal schedule of an update's tasks on P cores, built from the measured per-layer costs (BenchmarkLayerOp, one core) and the measured hand-off cost of one message (channels' BenchmarkHandoff: %s):\n\n", us(handoff))
	b.WriteString("    time(P) = sum_l Forward_l                                   (feed-forward: a chain)\n")
	b.WriteString("            + T * max(sum_l task_l / P, max_l task_l)           (T pipelined rounds; task = InputVJP [+ Forward for pc, zil])\n")
	b.WriteString("            + max(sum_l WeightVJP_l / P, max_l WeightVJP_l)     (learning)\n")
	b.WriteString("            + messages * handoff / P\n\n")
	b.WriteString("Measured / predicted close to 1 means the engine achieves the ideal schedule; the columns for more cores than were measured are predictions.\n\n")
	predicted := []int{4, 8, 16}
	for _, v := range []string{"fpa", "pc"} {
		fmt.Fprintf(b, "### %s, parallel engine, batch 64\n\n| width | H |", v)
		for _, p := range procs {
			fmt.Fprintf(b, " measured %d | model %d | ratio |", p, p)
		}
		for _, p := range predicted {
			if !containsInt(procs, p) {
				fmt.Fprintf(b, " **predicted** %d |", p)
			}
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---|---|---|", len(procs)))
		for _, p := range predicted {
			if !containsInt(procs, p) {
				b.WriteString("---|")
			}
		}
		b.WriteString("\n")
		for _, w := range widths {
			for _, h := range depths {
				m, ok := model(rs, v, h, w, 64, handoff)
				if !ok {
					continue
				}
				fmt.Fprintf(b, "| %d | %d |", w, h)
				for _, p := range procs {
					meas, pred := rs.median(pcName(v, "parallel", h, w, 64), p), m.Predict(p)
					fmt.Fprintf(b, " %s | %s | %s |", us(meas), us(pred), ratio(meas, pred))
				}
				for _, p := range predicted {
					if !containsInt(procs, p) {
						fmt.Fprintf(b, " %s |", us(m.Predict(p)))
					}
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	name := "speedup-model.png"
	if err := plotSpeedup(rs, depths, procs, handoff, filepath.Join(plotDir, name)); err != nil {
		return err
	}
	fmt.Fprintf(b, "![speed-up, measured and predicted](%s)\n", filepath.Join(plotRel, name))
	return nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func plotTimeVsH(rs results, w, procs int, depths []int, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("time per update, width %d, batch 64, %d core(s)", w, procs)
	p.X.Label.Text = "H (hidden layers)"
	p.Y.Label.Text = "time per update (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	series := []struct {
		label string
		name  func(h int) string
	}{{"BP", func(h int) string { return bpName(h, w, 64) }}}
	for _, v := range variants {
		for _, e := range engines {
			series = append(series, struct {
				label string
				name  func(h int) string
			}{v + " " + e, func(h int) string { return pcName(v, e, h, w, 64) }})
		}
	}
	for i, s := range series {
		var pts plotter.XYs
		for _, h := range depths {
			if t := rs.median(s.name(h), procs); !math.IsNaN(t) {
				pts = append(pts, plotter.XY{X: float64(h), Y: t / 1e6})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		if i == 0 {
			l.Width = vg.Points(2.5)
			l.Color, sc.Color = color.Black, color.Black
		}
		p.Add(l, sc)
		p.Legend.Add(s.label, l, sc)
	}
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

func plotSpeedup(rs results, depths, procs []int, handoff float64, path string) error {
	p := plot.New()
	p.Title.Text = "FPA-PC parallel engine: speed-up over 1 core, width 256 (lines: model; points: measured)"
	p.X.Label.Text = "cores"
	p.Y.Label.Text = "speed-up"
	p.Legend.Top, p.Legend.Left = true, true
	i := 0
	for _, h := range depths {
		m, ok := model(rs, "fpa", h, 256, 64, handoff)
		if !ok {
			continue
		}
		var line, pts plotter.XYs
		for _, c := range []int{1, 2, 4, 8, 16} {
			line = append(line, plotter.XY{X: float64(c), Y: m.Predict(1) / m.Predict(c)})
		}
		t1 := rs.median(pcName("fpa", "parallel", h, 256, 64), 1)
		for _, c := range procs {
			if t := rs.median(pcName("fpa", "parallel", h, 256, 64), c); !math.IsNaN(t + t1) {
				pts = append(pts, plotter.XY{X: float64(c), Y: t1 / t})
			}
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("H=%d", h), l)
		if len(pts) > 0 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color = plotutil.Color(i)
			sc.Shape = plotutil.Shape(i)
			p.Add(sc)
		}
		i++
	}
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}
