package experiments

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/spec"
)

// writeOnline writes online.csv, online_summary.csv, online_curves.csv, the plots and
// online.md.
func writeOnline(env *runEnv, o *onlineResults, checks []check) error {
	p := o.preset
	runs := render.NewTable("method", "optimizer", "batch", "lr", "seed", "steps", "gamma", "prequential_accuracy", "last_tenth_accuracy",
		"test_accuracy", "test_loss", "diverged", "diverged_at_image", "weights_sha256", "settle_median", "settle_p90", "settle_max", "seconds")
	curves := render.NewTable("method", "batch", "lr", "seed", "part", "images_from", "images_to", "prequential_accuracy")
	summary := render.NewTable("method", "batch", "lr", "seeds", "prequential_mean", "prequential_min", "prequential_max", "last_tenth_mean",
		"test_mean", "test_min", "test_max", "seeds_diverged", "first_divergence_image", "seconds")
	for _, b := range p.Batches {
		for _, m := range onlineMethods {
			for _, lr := range p.rates(m.optimiser) {
				for _, seed := range o.seeds {
					r := o.get(m.name, b, lr, seed)
					if r == nil {
						return fmt.Errorf("online: run %s B=%d lr=%g seed=%d is missing", m.name, b, lr, seed)
					}
					s := r.Spec
					runs.Add(m.name, m.optimiser, b, lr, seed, s.Steps, s.Gamma, r.Prequential, r.LastTenth, r.Test, r.TestLoss,
						r.DivergedAt > 0, r.DivergedAt, r.Weights, r.SettleMedian, r.SettleP90, r.SettleMax, r.Seconds)
					for k, a := range r.Curve {
						curves.Add(m.name, b, lr, seed, k, k*o.streamN/len(r.Curve), (k+1)*o.streamN/len(r.Curve), a)
					}
				}
			}
			for _, pt := range o.points(m.name, b) {
				summary.Add(m.name, b, pt.lr, len(o.seeds), pt.preq.mean, pt.preq.lo, pt.preq.hi, pt.last.mean,
					pt.test.mean, pt.test.lo, pt.test.hi, pt.diverged, pt.firstDiverged, pt.seconds)
			}
		}
	}
	for file, t := range map[string]*render.Table{"online.csv": runs, "online_curves.csv": curves, "online_summary.csv": summary} {
		if err := t.WriteFile(env.path(file)); err != nil {
			return err
		}
	}
	if err := drawOnlineRates(env, o); err != nil {
		return err
	}
	if err := onlineCurvePlot(env.path("online_curves.png"), o); err != nil {
		return err
	}

	md := newPage(env, "# online: online learning at high learning rates, PC against SGD, momentum and Adam (paper §3.6)")
	md.P("**The paper** (§3.6) leaves open whether PC's reported robustness to high learning rates in online learning " +
		"(batch 1) survives against SGD with momentum and Adam, and whether the gap persists when online SGD is combined " +
		"with high learning rates.")
	md.P("**Setting**: 784-[%d tanh]x%d-10, NLL; the same initial weights for every method within a seed (PyTorch's "+
		"initialisation seeded by (seed, H)), seeds %s; one pass over a stream of %d MNIST training images in a "+
		"shuffled order fixed by the seed, at batch sizes %s; every batch is predicted with the current weights before "+
		"it is learned from (prequential accuracy, over the stream and over its last tenth), then the test accuracy "+
		"on %d images. Standard PC near equilibrium: T = %d steps of gamma = %g (its errors settle: see the checks); "+
		"iPC: T = %d steps of gamma = %g, so %d optimiser steps per batch, the fewest at which every layer learns "+
		"(T = H+1); FPA-PC with gamma 1, T = H is the control that must equal BP. Learning rates: SGD %s; momentum "+
		"0.9 %s; Adam (PyTorch's betas and eps) %s. Engines: %s.",
		p.Width, p.Hidden, seedList(o.seeds), o.streamN, intList(p.Batches), o.testN, p.PCSteps, p.PCGamma,
		p.IPCSteps, p.IPCGamma, p.IPCSteps, floatList(p.SGDRates), floatList(p.MomentumRates), floatList(p.AdamRates), engineList(p))
	md.P("**Divergence**: a run has diverged when its loss is not finite or the mean loss over its last %d images "+
		"exceeds 3 ln 10 = %.2f, three times a uniform guess's; it stops there, the rest of the stream counts as "+
		"wrongly predicted, and a network whose weights are no longer finite has test accuracy 0 (the tables' "+
		"means count them so). The plots against learning rate draw the mean and range of the seeds that did not "+
		"diverge, and mark the rates at which seeds diverged in a band below the accuracy axis, a row per method in "+
		"its colour: a cross where every seed diverged, a ring where some did.", divergeWindow, divergeLoss)
	md.Image("prequential accuracy", "online_prequential.png")
	md.Image("test accuracy", "online_test.png")
	md.P("Over the stream's last tenth: online_last_tenth.png. Along the stream at each method's best learning rate: " +
		"online_curves.png. Every run: online.csv; means and spread over seeds: online_summary.csv.")
	for _, b := range p.Batches {
		md.P("**Best learning rate per method, batch %d** (by mean prequential accuracy; mean over seeds, range in brackets):", b)
		var rows [][]string
		for _, m := range onlineMethods {
			s := o.summary(m.name, b)
			div := "–"
			if !math.IsNaN(s.firstDiverged) {
				div = fmt.Sprintf("%g", s.firstDiverged)
			}
			usable := "–"
			if !math.IsNaN(s.usableLo) {
				usable = fmt.Sprintf("%g..%g (%.1f)", s.usableLo, s.usableHi, s.decades())
			}
			learns := "–"
			if !math.IsNaN(s.learnsHi) {
				learns = fmt.Sprintf("%g (%.1f)", s.learnsHi, s.headroom())
			}
			rows = append(rows, []string{m.label, fmt.Sprintf("%g", s.best.lr), spreadPct(s.best.preq), spreadPct(s.best.last),
				spreadPct(s.best.test), fmt.Sprintf("%s at %g", render.Percent(s.bestTest.test.mean), s.bestTest.lr), usable, learns, div,
				fmt.Sprintf("%.0f", imagesPerSecond(o, m.name, b))})
		}
		md.Table([]string{"method", "best lr", "prequential", "last tenth", "test", "best test (at lr)", "usable lr (decades)",
			"still learns up to lr (decades above best)", "first diverging lr", "images/s"}, rows)
	}
	md.P("A learning rate is *usable* when no seed diverged and the mean prequential accuracy is within %g points of the "+
		"method's best; the usable range is the run of such rates around the best one. A method *still learns* at a rate "+
		"when no seed diverged and its mean prequential accuracy is at least %s. The robustness claims compare, for "+
		"methods with the same optimiser (whose rates mean the same step), the highest rate at which each still learns "+
		"(at a tie, the accuracy there); across optimisers, whose rates have no common scale, how many decades above "+
		"its own best rate each still learns. images/s: measured in this run, one run per core.", 100*usableDrop, render.Percent(onlineLearns))
	md.P("**Claims against measurements:**")
	writeChecks(md, checks)
	this := fmt.Sprintf("this process ran %d of them in %s of wall time on %d workers and read the rest from cache/",
		o.fresh, o.took.Round(time.Second), env.opts.Workers)
	if o.fresh == 0 {
		this = "this process read all of them from cache/ (the log of the run that made them: online-full-run.log for the full preset)"
	}
	md.P("Time: %d runs, %s of run time in all (summed over runs, each on one core); %s.",
		len(o.runs), time.Duration(totalSeconds(o)*float64(time.Second)).Round(time.Second), this)
	return md.WriteFile(env.path("online.md"))
}

func onlineSection(o *onlineResults, checks []check) section {
	s := section{
		name: "online", title: "online: learning-rate robustness in online learning (§3.6)", image: "online_prequential.png", checks: checks,
		claim: "PC and related energy-based methods are reported to be more robust to high learning rates and to degrade " +
			"less in online learning (batch 1); whether that survives against SGD with momentum and Adam is left open (§3.6).",
	}
	for _, b := range o.preset.Batches {
		for _, m := range onlineMethods {
			s.measure = append(s.measure, fmt.Sprintf("batch %d, %s", b, o.summary(m.name, b).describe()))
		}
	}
	return s
}

func imagesPerSecond(o *onlineResults, method string, batch int) float64 {
	var images, secs float64
	for s, r := range o.runs {
		if s.Method == method && s.Batch == batch && r.DivergedAt == 0 {
			images += float64(o.streamN)
			secs += r.Seconds
		}
	}
	return images / secs
}

func totalSeconds(o *onlineResults) float64 {
	var t float64
	for _, r := range o.runs {
		t += r.Seconds
	}
	return t
}

func spreadPct(s spread) string {
	return fmt.Sprintf("%s [%s, %s]", render.Percent(s.mean), render.Percent(s.lo), render.Percent(s.hi))
}

func seedList(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ", ")
}

func intList(v []int) string { return strings.ReplaceAll(render.Ints(v), " ", ", ") }

func floatList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ", ")
}

func engineList(p OnlinePreset) string {
	s := make([]string, len(p.Batches))
	for i, b := range p.Batches {
		s[i] = fmt.Sprintf("%s at batch %d", p.Engines[i], b)
	}
	return strings.Join(s, ", ") + " (BenchmarkOnlineRun, one run at a time on the shared machine, at width 64: the " +
		"parallel engine was slower by 13-83% in 7 of the 10 PC cases, as fast for FPA-PC at batch 64, and faster by 4% and 14% in two iPC cases; with the " +
		"worker pool keeping both cores busy with one run each, a run's extra goroutines find no idle core)"
}

// drawOnlineRates draws the plots against learning rate.
func drawOnlineRates(env *runEnv, o *onlineResults) error {
	for _, fig := range []struct {
		file, what string
		get        func(*onlineResult) float64
	}{
		{"online_prequential", "prequential accuracy over the stream", func(r *onlineResult) float64 { return float64(r.Prequential) }},
		{"online_last_tenth", "prequential accuracy over the stream's last tenth", func(r *onlineResult) float64 { return float64(r.LastTenth) }},
		{"online_test", "test accuracy after the pass", func(r *onlineResult) float64 { return float64(r.Test) }},
	} {
		if err := onlineRatePlot(env.path(fig.file+".png"), o, fig.what, fig.get); err != nil {
			return err
		}
	}
	return nil
}

// errPoints are points with error bars for plotter.NewYErrorBars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// The rate plots draw a learning rate at which seeds diverged in a band below the
// accuracy axis, one thin row per method, not at the accuracy a diverged run scores: its
// remaining images count as wrong and non-finite weights test at 0, which would draw it
// below chance as if it had learned something worse than guessing.
const (
	divergedTop  = -0.09 // the first method's row; each further method's is divergedStep lower
	divergedStep = -0.02
)

// rateMarks is what a rate plot draws for one method at one batch size.
type rateMarks struct {
	line      plotter.XYs     // mean over the seeds that did not diverge
	errs      plotter.YErrors // their range
	all, some plotter.XYs     // in the diverged band: every seed diverged, some did
}

func onlineRateMarks(o *onlineResults, m onlineMethod, batch int, row float64, get func(*onlineResult) float64) rateMarks {
	var rm rateMarks
	for _, lr := range o.preset.rates(m.optimiser) {
		x := math.Log10(lr)
		var kept []float64
		diverged := 0
		for _, seed := range o.seeds {
			switch r := o.get(m.name, batch, lr, seed); {
			case r == nil:
			case r.DivergedAt > 0:
				diverged++
			default:
				kept = append(kept, get(r))
			}
		}
		if diverged > 0 && len(kept) == 0 {
			rm.all = append(rm.all, plotter.XY{X: x, Y: row})
			continue
		}
		if diverged > 0 {
			rm.some = append(rm.some, plotter.XY{X: x, Y: row})
		}
		if len(kept) == 0 {
			continue
		}
		s := spreadOf(kept)
		rm.line = append(rm.line, plotter.XY{X: x, Y: s.mean})
		rm.errs = append(rm.errs, struct{ Low, High float64 }{s.mean - s.lo, s.hi - s.mean})
	}
	return rm
}

// onlineRatePlot draws accuracy against learning rate, a panel per batch size, a line
// per method with its spread over the seeds that did not diverge, and the rates at which
// seeds diverged in a band of their own below.
func onlineRatePlot(path string, o *onlineResults, what string, get func(*onlineResult) float64) error {
	var panels []*plot.Plot
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, g := range [][]float64{o.preset.SGDRates, o.preset.MomentumRates, o.preset.AdamRates} {
		lo, hi = math.Min(lo, slices.Min(g)), math.Max(hi, slices.Max(g))
	}
	for _, b := range o.preset.Batches {
		pl := render.NewPlot(fmt.Sprintf("batch %d", b), "learning rate", what)
		for i, m := range onlineMethods {
			c := render.SeriesColor(i)
			rm := onlineRateMarks(o, m, b, divergedTop+float64(i)*divergedStep, get)
			sr := render.Series{Name: m.label, XS: xsOf(rm.line), YS: ysOf(rm.line), Color: c, Points: true}
			if m.alg == spec.FPA {
				sr.Color, sr.Dashed, sr.Points = render.Black, true, false
			} else if m.alg.IsPC() {
				sr.Dashed = true
			}
			if err := sr.Add(pl); err != nil {
				return err
			}
			if m.alg != spec.FPA && len(rm.line) > 0 {
				eb, err := plotter.NewYErrorBars(errPoints{rm.line, rm.errs})
				if err != nil {
					return fmt.Errorf("plot %s: %w", path, err)
				}
				eb.Color = c
				eb.CapWidth = vg.Points(3)
				pl.Add(eb)
			}
			if err := addDivergedMarks(pl, rm, sr.Color); err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
		}
		if err := divergedLegend(pl); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		pl.X.Tick.Marker = decadeTicks{}
		pl.X.Min, pl.X.Max = math.Log10(lo)-0.2, math.Log10(hi)+0.2
		bottom := divergedTop + float64(len(onlineMethods)-1)*divergedStep
		pl.Y.Min, pl.Y.Max = bottom-0.03, 1
		pl.Y.Tick.Marker = plot.ConstantTicks{
			{Value: (divergedTop + bottom) / 2, Label: "diverged"},
			{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"}, {Value: 0.75}, {Value: 1, Label: "1"},
		}
		if err := render.HLine(pl, "", -0.045, pl.X.Min, pl.X.Max, render.Grey); err != nil {
			return err
		}
		panels = append(panels, pl)
	}
	title := fmt.Sprintf("%s against learning rate (mean and range over the seeds, of %d, that did not diverge; below: where seeds diverged)", strings.ToUpper(what[:1])+what[1:], len(o.seeds))
	return render.SaveTiles(path, title, [][]*plot.Plot{panels}, 14*vg.Inch, 5.4*vg.Inch)
}

// addDivergedMarks draws a method's diverged rates in its row of the band: a cross where
// every seed diverged, a ring where some did (the line then is the others').
func addDivergedMarks(pl *plot.Plot, rm rateMarks, c color.Color) error {
	for _, mark := range []struct {
		xys   plotter.XYs
		glyph draw.GlyphDrawer
	}{{rm.all, draw.CrossGlyph{}}, {rm.some, draw.RingGlyph{}}} {
		if len(mark.xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(mark.xys)
		if err != nil {
			return err
		}
		sc.Shape, sc.Color, sc.Radius = mark.glyph, c, vg.Points(3.5)
		pl.Add(sc)
	}
	return nil
}

// divergedLegend explains the band's two marks in the legend, in black: the colour is
// the method's.
func divergedLegend(pl *plot.Plot) error {
	for _, e := range []struct {
		name  string
		glyph draw.GlyphDrawer
	}{{"every seed diverged (band below 0)", draw.CrossGlyph{}}, {"some seeds diverged (line: the others)", draw.RingGlyph{}}} {
		sc, err := plotter.NewScatter(plotter.XYs{{}})
		if err != nil {
			return err
		}
		sc.Shape, sc.Color, sc.Radius = e.glyph, render.Black, vg.Points(3.5)
		pl.Legend.Add(e.name, sc)
	}
	return nil
}

// onlineCurvePlot draws the prequential accuracy along the stream at each method's best
// learning rate, seed by seed averaged, a panel per batch size.
func onlineCurvePlot(path string, o *onlineResults) error {
	var panels []*plot.Plot
	for _, b := range o.preset.Batches {
		pl := render.NewPlot(fmt.Sprintf("batch %d, each method at its best learning rate", b), "images seen", "prequential accuracy")
		for i, m := range onlineMethods {
			s := o.summary(m.name, b)
			var ys []float64
			for _, seed := range o.seeds {
				r := o.get(m.name, b, s.best.lr, seed)
				if r == nil {
					continue
				}
				if ys == nil {
					ys = make([]float64, len(r.Curve))
				}
				for k, a := range r.Curve {
					ys[k] += float64(a) / float64(len(o.seeds))
				}
			}
			xs := make([]float64, len(ys))
			for k := range xs {
				xs[k] = (float64(k) + 0.5) * float64(o.streamN) / float64(len(ys))
			}
			sr := render.Series{Name: m.label, XS: xs, YS: ys, Color: render.SeriesColor(i)}
			if m.alg == spec.FPA {
				sr.Color, sr.Dashed = render.Black, true
			} else if m.alg.IsPC() {
				sr.Dashed = true
			}
			if err := sr.Add(pl); err != nil {
				return err
			}
		}
		pl.X.Tick.Marker = render.IntTicker{}
		pl.Y.Min, pl.Y.Max = 0, 1
		panels = append(panels, pl)
	}
	return render.SaveTiles(path, "Prequential accuracy along the stream, mean over seeds (the best learning rates: online.md)", [][]*plot.Plot{panels}, 14*vg.Inch, 5*vg.Inch)
}

func xsOf(v plotter.XYs) []float64 {
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = p.X
	}
	return out
}

func ysOf(v plotter.XYs) []float64 {
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = p.Y
	}
	return out
}

// decadeTicks labels the integer positions of a log10 axis as powers of ten and marks
// the half decades.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for e := math.Ceil(lo*2) / 2; e <= hi; e += 0.5 {
		label := ""
		if e == math.Trunc(e) {
			label = strconv.FormatFloat(math.Pow(10, e), 'g', -1, 64)
		}
		t = append(t, plot.Tick{Value: e, Label: label})
	}
	return t
}
