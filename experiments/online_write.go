package experiments

import (
	"fmt"
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
	"github.com/pcnet/pcnet/pcnet"
)

const (
	// usableDrop: a learning rate is usable when no seed diverged and the mean
	// prequential accuracy is within this of the method's best.
	usableDrop = 0.05
	// learnsAccuracy: a learning rate at which no seed diverged and the mean prequential
	// accuracy is at least this still learns (half the stream predicted right).
	onlineLearns = 0.5
	// settleTol: standard PC counts as near equilibrium when the median relative change
	// of a hidden error at the last inference step is below this in every run that did
	// not diverge.
	settleTol = 0.02
)

// spread is the mean, minimum and maximum over seeds.
type spread struct{ mean, lo, hi float64 }

func spreadOf(v []float64) spread {
	s := spread{lo: math.Inf(1), hi: math.Inf(-1)}
	for _, x := range v {
		s.mean += x
		s.lo, s.hi = math.Min(s.lo, x), math.Max(s.hi, x)
	}
	s.mean /= float64(len(v))
	return s
}

// onlinePoint is one method at one batch size and learning rate, over the seeds.
type onlinePoint struct {
	lr                     float64
	preq, last, test       spread
	diverged               int // seeds that diverged
	firstDiverged          int // the earliest image at which a seed diverged (0: none)
	seconds, imagesPerSecs float64
}

// points returns a method's grid at one batch size, by increasing learning rate.
func (o *onlineResults) points(method string, batch int) []onlinePoint {
	var out []onlinePoint
	for _, lr := range o.preset.rates(methodByName(method).optimiser) {
		pt := onlinePoint{lr: lr}
		var preq, last, test []float64
		for _, seed := range o.seeds {
			r := o.get(method, batch, lr, seed)
			if r == nil {
				continue
			}
			preq, last, test = append(preq, float64(r.Prequential)), append(last, float64(r.LastTenth)), append(test, float64(r.Test))
			pt.seconds += r.Seconds
			if r.DivergedAt > 0 {
				pt.diverged++
				if pt.firstDiverged == 0 || r.DivergedAt < pt.firstDiverged {
					pt.firstDiverged = r.DivergedAt
				}
			}
		}
		if len(preq) == 0 {
			continue
		}
		pt.preq, pt.last, pt.test = spreadOf(preq), spreadOf(last), spreadOf(test)
		out = append(out, pt)
	}
	return out
}

// onlineSummary is what the claims read off one method at one batch size.
type onlineSummary struct {
	method        onlineMethod
	batch         int
	best          onlinePoint // the learning rate of the highest mean prequential accuracy
	bestTest      onlinePoint // the learning rate of the highest mean test accuracy
	usableLo      float64     // the usable range around best (see usableDrop)
	usableHi      float64
	learnsHi      float64 // the highest rate of the run above best that still learns (see onlineLearns)
	firstDiverged float64 // the lowest learning rate at which a seed diverged (NaN: none)
	lowStable     bool    // no seed diverged at the grid's lowest learning rate
}

func (s onlineSummary) decades() float64 { return math.Log10(s.usableHi / s.usableLo) }

// headroom is how many decades above its best rate a method still learns: the
// robustness to high learning rates, free of the learning rate's scale, which differs
// between optimisers and, through the size of the update, between BP and PC.
func (s onlineSummary) headroom() float64 { return math.Log10(s.learnsHi / s.best.lr) }

func (s onlineSummary) describe() string {
	div := "no divergence in the grid"
	if !math.IsNaN(s.firstDiverged) {
		div = fmt.Sprintf("diverges from lr %g", s.firstDiverged)
	}
	return fmt.Sprintf("%s: best %s at lr %g, usable lr %g..%g (%.1f decades), still learns up to lr %g (%.1f decades above its best), %s",
		s.method.label, render.Percent(s.best.preq.mean), s.best.lr, s.usableLo, s.usableHi, s.decades(), s.learnsHi, s.headroom(), div)
}

func (o *onlineResults) summary(method string, batch int) onlineSummary {
	pts := o.points(method, batch)
	s := onlineSummary{method: methodByName(method), batch: batch, firstDiverged: math.NaN()}
	if len(pts) == 0 {
		s.usableLo, s.usableHi = math.NaN(), math.NaN()
		return s
	}
	bi, ti := 0, 0
	for i, p := range pts {
		if p.preq.mean > pts[bi].preq.mean {
			bi = i
		}
		if p.test.mean > pts[ti].test.mean {
			ti = i
		}
		if p.diverged > 0 && math.IsNaN(s.firstDiverged) {
			s.firstDiverged = p.lr
		}
	}
	s.best, s.bestTest = pts[bi], pts[ti]
	s.lowStable = pts[0].diverged == 0
	usable := func(p onlinePoint) bool { return p.diverged == 0 && p.preq.mean >= pts[bi].preq.mean-usableDrop }
	lo, hi := bi, bi
	for lo > 0 && usable(pts[lo-1]) {
		lo--
	}
	for hi < len(pts)-1 && usable(pts[hi+1]) {
		hi++
	}
	s.usableLo, s.usableHi = pts[lo].lr, pts[hi].lr
	learns := func(p onlinePoint) bool { return p.diverged == 0 && p.preq.mean >= onlineLearns }
	s.learnsHi = math.NaN()
	if learns(pts[bi]) {
		k := bi
		for k < len(pts)-1 && learns(pts[k+1]) {
			k++
		}
		s.learnsHi = pts[k].lr
	}
	if !usable(pts[bi]) { // the best point itself diverged in some seed
		s.usableLo, s.usableHi = math.NaN(), math.NaN()
	}
	return s
}

// methodsBy returns the methods whose name starts with prefix.
func methodsBy(prefix string) []onlineMethod {
	var out []onlineMethod
	for _, m := range onlineMethods {
		if strings.HasPrefix(m.name, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func pcMethods() []onlineMethod { return slices.Concat(methodsBy("pc-"), methodsBy("ipc-")) }

// onlineChecks sets the claims and the experiment's own checks against the runs.
func onlineChecks(o *onlineResults) []check {
	p := o.preset
	var checks []check

	// The control: FPA-PC with gamma 1 and T = H is BP, bit for bit.
	control := check{Claim: "control: FPA-PC with gamma 1, T = H gives BP's (SGD) weights bit for bit at every learning rate, seed and batch size", OK: true}
	same, all := 0, 0
	var diffs []string
	for s, r := range o.runs {
		if s.Method != "fpa-sgd" {
			continue
		}
		all++
		bp := o.get("bp-sgd", s.Batch, s.LR, s.Seed)
		if bp != nil && bp.Weights == r.Weights && bp.Prequential == r.Prequential && bp.DivergedAt == r.DivergedAt {
			same++
			continue
		}
		control.OK = false
		diffs = append(diffs, s.label())
	}
	control.Detail = fmt.Sprintf("%d of %d runs end with the same SHA-256 of the weights and the same prequential accuracy and divergence as BP", same, all)
	if len(diffs) > 0 {
		control.Detail += "; differ: " + summaryOr("", diffs)
	}
	checks = append(checks, control)

	// Standard PC near equilibrium, where it learns: at high rates the weights blow up
	// and its inference no longer settles, which the detail reports.
	settle := check{Claim: fmt.Sprintf("standard PC (T = %d, gamma = %g) runs near equilibrium: at every usable learning rate, "+
		"the median relative change of a hidden error at the last step is below %g in every run", p.PCSteps, p.PCGamma, settleTol), OK: true}
	var medians, p90s, others []float64
	for s, r := range o.runs {
		if methodByName(s.Method).variant != pcnet.Standard || r.DivergedAt > 0 || math.IsNaN(float64(r.SettleMedian)) {
			continue
		}
		if sum := o.summary(s.Method, s.Batch); !(s.LR >= sum.usableLo && s.LR <= sum.usableHi) {
			others = append(others, float64(r.SettleMedian))
			continue
		}
		medians, p90s = append(medians, float64(r.SettleMedian)), append(p90s, float64(r.SettleP90))
		settle.OK = settle.OK && float64(r.SettleMedian) < settleTol
	}
	if len(medians) == 0 {
		settle.OK = false
		settle.Detail = "no standard PC run at a usable learning rate"
	} else {
		slices.Sort(medians)
		slices.Sort(p90s)
		settle.Detail = fmt.Sprintf("%d runs: median over runs %.2g, largest %.2g; 90th percentile within a run at most %.2g",
			len(medians), medians[len(medians)/2], medians[len(medians)-1], p90s[len(p90s)-1])
	}
	if len(others) > 0 {
		slices.Sort(others)
		settle.Detail += fmt.Sprintf("; at the %d other rates that did not diverge the median reaches %.2g", len(others), others[len(others)-1])
	}
	checks = append(checks, settle)

	// The grid spans stable to diverged for every method.
	for _, b := range p.Batches {
		span := check{Claim: fmt.Sprintf("batch %d: every method's grid has a stable end (no seed diverges at its lowest rate) and a diverged end (some seed diverges)", b), OK: true}
		var bad []string
		for _, m := range onlineMethods {
			s := o.summary(m.name, b)
			if !s.lowStable || math.IsNaN(s.firstDiverged) {
				span.OK = false
				bad = append(bad, fmt.Sprintf("%s (lowest stable %v, diverges from %g)", m.label, s.lowStable, s.firstDiverged))
			}
		}
		span.Detail = summaryOr("every method", bad)
		checks = append(checks, span)
	}

	// The claims at batch 1. With the same optimiser the learning rates mean the
	// same step and are compared as they are: the highest rate at which a method still
	// learns, and at a tie its accuracy there. Across optimisers the rates have no common
	// scale, and robustness is how many decades above its own best rate a method still
	// learns (its headroom).
	online := p.Batches[0]
	for _, baseline := range []struct{ name, claim string }{
		{"bp-sgd", "PC is more robust to high learning rates than SGD online"},
		{"bp-momentum", "PC is more robust to high learning rates than SGD with momentum online"},
		{"bp-adam", "PC is more robust to high learning rates than Adam online"},
	} {
		bp := o.summary(baseline.name, online)
		for _, m := range pcMethods() {
			pc := o.summary(m.name, online)
			c := check{}
			if m.optimiser == bp.method.optimiser {
				c.Claim = fmt.Sprintf("%s: %s against %s (batch %d; the same optimiser: the highest rate at which it still learns)", baseline.claim, m.label, bp.method.label, online)
				pcAcc, bpAcc := o.accuracyAt(pc, pc.learnsHi), o.accuracyAt(bp, bp.learnsHi)
				c.OK = pc.learnsHi > bp.learnsHi || pc.learnsHi == bp.learnsHi && pcAcc > bpAcc
				c.Detail = fmt.Sprintf("lr %g (%s there) against lr %g (%s there); %s. %s; %s", pc.learnsHi, render.Percent(pcAcc), bp.learnsHi, render.Percent(bpAcc),
					sameRateNote(o, pc, bp), pc.describe(), bp.describe())
			} else {
				c.Claim = fmt.Sprintf("%s: %s against %s (batch %d; other optimisers: decades above its best rate at which it still learns)", baseline.claim, m.label, bp.method.label, online)
				c.OK = pc.headroom() > bp.headroom() || (!math.IsNaN(pc.headroom()) && math.IsNaN(bp.headroom()))
				c.Detail = fmt.Sprintf("%.1f against %.1f decades. %s; %s", pc.headroom(), bp.headroom(), pc.describe(), bp.describe())
			}
			checks = append(checks, c)
		}
	}
	if len(p.Batches) > 1 {
		big := p.Batches[len(p.Batches)-1]
		for _, m := range pcMethods() {
			base := "bp-" + m.optimiser
			pc1, pc64 := o.summary(m.name, online), o.summary(m.name, big)
			bp1, bp64 := o.summary(base, online), o.summary(base, big)
			dPC := pc64.bestTest.test.mean - pc1.bestTest.test.mean
			dBP := bp64.bestTest.test.mean - bp1.bestTest.test.mean
			c := check{Claim: fmt.Sprintf("PC degrades less from batch %d to batch %d: %s against %s (best test accuracy over the grid)", big, online, m.label, bp1.method.label)}
			c.OK = dPC < dBP
			c.Detail = fmt.Sprintf("%s: %s at batch %d, %s at batch %d (change %+.1f points); %s: %s, %s (change %+.1f points)",
				m.label, render.Percent(pc64.bestTest.test.mean), big, render.Percent(pc1.bestTest.test.mean), online, 100*(pc1.bestTest.test.mean-pc64.bestTest.test.mean),
				bp1.method.label, render.Percent(bp64.bestTest.test.mean), render.Percent(bp1.bestTest.test.mean), 100*(bp1.bestTest.test.mean-bp64.bestTest.test.mean))
			checks = append(checks, c)
		}
	}
	return checks
}

// sameRateNote says how a PC method does at the first rate above the highest at which
// BP (with the same optimiser) still learns.
func sameRateNote(o *onlineResults, pc, bp onlineSummary) string {
	for _, pt := range o.points(pc.method.name, pc.batch) {
		if pt.lr > bp.learnsHi {
			state := render.Percent(pt.preq.mean)
			if pt.diverged > 0 {
				state = "diverged"
			}
			return fmt.Sprintf("at lr %g, the first rate at which BP no longer learns, %s: %s", pt.lr, pc.method.label, state)
		}
	}
	return "BP learns at every rate of the grid"
}

// accuracyAt is a method's mean prequential accuracy at one rate of its grid (NaN when
// the rate is not in it).
func (o *onlineResults) accuracyAt(s onlineSummary, lr float64) float64 {
	for _, pt := range o.points(s.method.name, s.batch) {
		if pt.lr == lr {
			return pt.preq.mean
		}
	}
	return math.NaN()
}

// writeOnline writes online.csv, online_summary.csv, online_curves.csv, the plots and
// online.md, and returns the checks and README's section.
func writeOnline(env *runEnv, o *onlineResults) ([]check, section, error) {
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
						return nil, section{}, fmt.Errorf("online: run %s B=%d lr=%g seed=%d is missing", m.name, b, lr, seed)
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
			return nil, section{}, err
		}
	}
	for _, fig := range []struct {
		file, what string
		get        func(onlinePoint) spread
	}{
		{"online_prequential", "prequential accuracy over the stream", func(p onlinePoint) spread { return p.preq }},
		{"online_last_tenth", "prequential accuracy over the stream's last tenth", func(p onlinePoint) spread { return p.last }},
		{"online_test", "test accuracy after the pass", func(p onlinePoint) spread { return p.test }},
	} {
		if err := onlineRatePlot(env.path(fig.file+".png"), o, fig.what, fig.get); err != nil {
			return nil, section{}, err
		}
	}
	if err := onlineCurvePlot(env.path("online_curves.png"), o); err != nil {
		return nil, section{}, err
	}

	checks := onlineChecks(o)
	var md render.Markdown
	md.P("# online: online learning at high learning rates, PC against SGD, momentum and Adam (paper §3.6)")
	md.P("%s", env.runLine())
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
		"wrongly predicted, and a network whose weights are no longer finite has test accuracy 0. Diverged runs are "+
		"marked with a cross in the plots.", divergeWindow, divergeLoss)
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
	writeChecks(&md, checks)
	this := fmt.Sprintf("this process ran %d of them in %s of wall time on %d workers and read the rest from cache/",
		o.fresh, o.took.Round(time.Second), env.opts.Workers)
	if o.fresh == 0 {
		this = "this process read all of them from cache/ (the log of the run that made them: online-full-run.log for the full preset)"
	}
	md.P("Time: %d runs, %s of run time in all (summed over runs, each on one core); %s.",
		len(o.runs), time.Duration(totalSeconds(o)*float64(time.Second)).Round(time.Second), this)
	if err := md.WriteFile(env.path("online.md")); err != nil {
		return nil, section{}, err
	}
	return checks, onlineSection(o, checks), nil
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

// errPoints are points with error bars for plotter.NewYErrorBars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// onlineRatePlot draws accuracy against learning rate, a panel per batch size, a line
// per method with its spread over seeds, and a cross where a seed diverged.
func onlineRatePlot(path string, o *onlineResults, what string, get func(onlinePoint) spread) error {
	var panels []*plot.Plot
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, g := range [][]float64{o.preset.SGDRates, o.preset.MomentumRates, o.preset.AdamRates} {
		lo, hi = math.Min(lo, slices.Min(g)), math.Max(hi, slices.Max(g))
	}
	for _, b := range o.preset.Batches {
		pl := render.NewPlot(fmt.Sprintf("batch %d", b), "learning rate", what)
		for i, m := range onlineMethods {
			pts := o.points(m.name, b)
			var xys plotter.XYs
			var errs plotter.YErrors
			var crosses plotter.XYs
			for _, pt := range pts {
				s := get(pt)
				x := math.Log10(pt.lr)
				xys = append(xys, plotter.XY{X: x, Y: s.mean})
				errs = append(errs, struct{ Low, High float64 }{s.mean - s.lo, s.hi - s.mean})
				if pt.diverged > 0 {
					crosses = append(crosses, plotter.XY{X: x, Y: s.mean})
				}
			}
			c := render.SeriesColor(i)
			sr := render.Series{Name: m.label, XS: xsOf(xys), YS: ysOf(xys), Color: c, Points: true}
			if m.variant == pcnet.FixedPrediction {
				sr.Color, sr.Dashed, sr.Points = render.Black, true, false
			} else if m.variant != 0 {
				sr.Dashed = true
			}
			if err := sr.Add(pl); err != nil {
				return err
			}
			if m.variant != pcnet.FixedPrediction {
				eb, err := plotter.NewYErrorBars(errPoints{xys, errs})
				if err != nil {
					return fmt.Errorf("plot %s: %w", path, err)
				}
				eb.Color = c
				eb.CapWidth = vg.Points(3)
				pl.Add(eb)
			}
			if len(crosses) > 0 {
				sc, err := plotter.NewScatter(crosses)
				if err != nil {
					return fmt.Errorf("plot %s: %w", path, err)
				}
				sc.Shape = draw.CrossGlyph{}
				sc.Color = c
				sc.Radius = vg.Points(5)
				pl.Add(sc)
			}
		}
		pl.X.Tick.Marker = decadeTicks{}
		pl.X.Min, pl.X.Max = math.Log10(lo)-0.2, math.Log10(hi)+0.2
		// A little below 0, so that the crosses of runs that predicted nothing show.
		pl.Y.Min, pl.Y.Max = -0.03, 1
		panels = append(panels, pl)
	}
	title := fmt.Sprintf("%s against learning rate (mean and range over %d seeds; x: a seed diverged)", strings.ToUpper(what[:1])+what[1:], len(o.seeds))
	return render.SaveTiles(path, title, [][]*plot.Plot{panels}, 14*vg.Inch, 5*vg.Inch)
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
			if m.variant == pcnet.FixedPrediction {
				sr.Color, sr.Dashed = render.Black, true
			} else if m.variant != 0 {
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
