package experiments

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/spec"
)

const (
	// usableDrop: a learning rate is usable when no seed diverged and the mean
	// prequential accuracy is within this of the method's best.
	usableDrop = 0.05
	// onlineLearns: a learning rate at which no seed diverged and the mean prequential
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
	checks := []check{controlCheck(o), settleCheck(o)}

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

// controlCheck: FPA-PC with gamma 1 and T = H is BP, bit for bit.
func controlCheck(o *onlineResults) check {
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
	return control
}

// settleCheck: standard PC runs near equilibrium where it learns. At high rates the
// weights blow up and its inference no longer settles, which the detail reports.
func settleCheck(o *onlineResults) check {
	p := o.preset
	settle := check{Claim: fmt.Sprintf("standard PC (T = %d, gamma = %g) runs near equilibrium: at every usable learning rate, "+
		"the median relative change of a hidden error at the last step is below %g in every run", p.PCSteps, p.PCGamma, settleTol), OK: true}
	var medians, p90s, others []float64
	for s, r := range o.runs {
		if methodByName(s.Method).alg != spec.PC || r.DivergedAt > 0 || math.IsNaN(float64(r.SettleMedian)) {
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
	return settle
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
