package experiments

import (
	"context"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

const (
	// sameAccuracyTol: FPA-PC with gamma = 1 and T >= H takes BP's steps up to rounding,
	// so after the same epochs its accuracy equals BP's within a few examples.
	sameAccuracyTol = 0.005
	// learnsAccuracy: an H at which BP's test accuracy stays below this did not learn in
	// the epochs given, and says nothing about FPA-PC's losses.
	learnsAccuracy = 0.5
)

// accuracyChecks sets the paper's accuracy claims against the grid.
func accuracyChecks(g *gridResults) []check {
	p := g.preset
	same := check{Claim: fmt.Sprintf("gamma = 1, T >= H: FPA-PC reaches BP's test accuracy (within %g)", sameAccuracyTol), OK: true}
	drops := check{Claim: "gamma = 1: test accuracy drops when T < H (at every H where BP learns)", OK: true}
	worst, worstAt := -1.0, ""
	var dropNotes, noLearn []string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		bpTest := float64(bp.Test)
		if !(bpTest > learnsAccuracy) {
			noLearn = append(noLearn, fmt.Sprintf("H=%d (BP %s)", h, pct(bpTest)))
		}
		atH := math.NaN()
		bestBelow := math.Inf(-1)
		for _, r := range ratiosOf(p) {
			pt := g.point(h, 1, r)
			if pt == nil {
				continue
			}
			t := float64(pt.Test)
			if r >= 1 {
				if d := math.Abs(t - bpTest); !(d <= worst) {
					worst, worstAt = d, fmt.Sprintf("H=%d T/H=%g: %s vs BP %s", h, r, pct(t), pct(bpTest))
				}
				if !(math.Abs(t-bpTest) <= sameAccuracyTol) {
					same.OK = false
				}
				if r == 1 {
					atH = t
				}
			} else {
				bestBelow = math.Max(bestBelow, t)
			}
		}
		if bpTest > learnsAccuracy && !math.IsNaN(atH) && !math.IsInf(bestBelow, 0) {
			dropNotes = append(dropNotes, fmt.Sprintf("H=%d: best below T=H %s, at T=H %s", h, pct(bestBelow), pct(atH)))
			if !(bestBelow < atH) {
				drops.OK = false
			}
		}
	}
	same.Detail = fmt.Sprintf("largest difference: %s", worstAt)
	drops.Detail = strings.Join(dropNotes, "; ")
	if len(noLearn) > 0 {
		drops.Detail += fmt.Sprintf("; not judged where BP itself stayed below %s after %d epochs: %s", pct(learnsAccuracy), p.Epochs, strings.Join(noLearn, ", "))
	}
	small := check{Claim: "gamma < 1, T = H: test accuracy below BP's (at every H where BP learns)", OK: true}
	var smallNotes []string
	for _, h := range p.Hidden {
		bpTest := float64(g.bp[h].Test)
		if !(bpTest > learnsAccuracy) {
			continue
		}
		best, bestAt := math.Inf(-1), 0.0
		for _, gm := range p.Gammas {
			if pt := g.point(h, gm, 1); gm < 1 && pt != nil && float64(pt.Test) > best {
				best, bestAt = float64(pt.Test), gm
			}
		}
		if math.IsInf(best, 0) {
			continue
		}
		smallNotes = append(smallNotes, fmt.Sprintf("H=%d: best %s (gamma=%g) vs BP %s", h, pct(best), bestAt, pct(bpTest)))
		small.OK = small.OK && best < bpTest
	}
	small.Detail = strings.Join(smallNotes, "; ")
	if p.BPMaxEpochs <= p.Epochs {
		return []check{same, drops, small}
	}
	bpRef := check{Claim: fmt.Sprintf("BP reference reaches %s validation accuracy (at most %d epochs)", pct(p.BPTarget), p.BPMaxEpochs), OK: true}
	var notes []string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if bp.TargetEpoch > 0 {
			notes = append(notes, fmt.Sprintf("H=%d after %d epochs", h, bp.TargetEpoch))
		} else {
			bpRef.OK = false
			notes = append(notes, fmt.Sprintf("H=%d not in %d epochs (%s)", h, bp.FinalEpochs, pct(float64(bp.FinalVal))))
		}
	}
	bpRef.Detail = strings.Join(notes, "; ")
	return []check{same, drops, small, bpRef}
}

// writeAccuracy writes the accuracy experiment's files (the paper's Figures 4 and 5).
func writeAccuracy(env *runEnv, g *gridResults) ([]check, error) {
	p := g.preset
	ratios := ratiosOf(p)
	final := newTable("hidden", "gamma", "ratio", "steps", "val_accuracy", "test_accuracy", "test_loss", "bp_val_accuracy", "bp_test_accuracy", "diverged")
	curves := newTable("algo", "hidden", "gamma", "ratio", "steps", "epoch", "val_accuracy", "val_loss")
	ref := newTable("hidden", "epochs", "val_accuracy", "test_accuracy", "target", "target_epoch", "trained_epochs", "final_val_accuracy", "final_test_accuracy", "seconds")
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if bp == nil {
			return nil, fmt.Errorf("accuracy: the BP reference of H=%d is missing", h)
		}
		ref.add(h, p.Epochs, bp.valAt(p.Epochs), bp.Test, p.BPTarget, bp.TargetEpoch, bp.FinalEpochs, bp.FinalVal, bp.FinalTest, bp.Seconds)
		for _, v := range bp.Val {
			curves.add("bp", h, "", "", "", v.Epoch, v.Accuracy, v.Loss)
		}
		for _, gm := range p.Gammas {
			for _, r := range ratios {
				pt := g.point(h, gm, r)
				if pt == nil {
					return nil, fmt.Errorf("accuracy: grid point H=%d gamma=%g T/H=%g is missing", h, gm, r)
				}
				final.add(h, gm, r, pt.Spec.Steps, pt.valAt(p.Epochs), pt.Test, pt.TestLoss, bp.valAt(p.Epochs), bp.Test, pt.Diverged != "")
				for _, v := range pt.Val {
					curves.add("fpa", h, gm, r, pt.Spec.Steps, v.Epoch, v.Accuracy, v.Loss)
				}
			}
		}
	}
	for file, t := range map[string]*table{"accuracy.csv": final, "accuracy_curves.csv": curves, "bp_reference.csv": ref} {
		if err := t.write(env.path(file)); err != nil {
			return nil, err
		}
	}

	for _, kind := range []struct {
		file, what string
		get        func(*pointResult) float64
	}{
		{"accuracy_val", fmt.Sprintf("validation accuracy after %d epochs (paper Fig. 4)", p.Epochs), func(r *pointResult) float64 { return r.valAt(p.Epochs) }},
		{"accuracy_test", fmt.Sprintf("test accuracy after %d epochs (paper Fig. 5)", p.Epochs), func(r *pointResult) float64 { return float64(r.Test) }},
	} {
		var ps []*plot.Plot
		for _, h := range p.Hidden {
			pl, err := accuracyPlot(g, h, kind.get)
			if err != nil {
				return nil, err
			}
			if err := savePlot(env.path(fmt.Sprintf("%s_H%d.png", kind.file, h)), pl, 5*vg.Inch, 3.6*vg.Inch); err != nil {
				return nil, err
			}
			ps = append(ps, pl)
		}
		rows := math.Ceil(float64(len(ps)) / 2)
		if err := saveTiles(env.path(kind.file+".png"), "FPA-PC "+kind.what, gridOf(ps, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(rows)); err != nil {
			return nil, err
		}
	}
	for _, h := range p.Hidden {
		if err := curvesPlot(env, g, h); err != nil {
			return nil, err
		}
	}

	checks := accuracyChecks(g)
	var md markdown
	md.p("# accuracy: FPA-PC against BP on MNIST (paper Figures 4 and 5)")
	md.p("%s", env.runLine())
	md.p("**The paper** (§3.4.2, Figs. 4 and 5): validation and test accuracies experience significant drops as " +
		"the number of inference steps falls below the number of layers, and with step sizes below 1.")
	bpNote := fmt.Sprintf("it also trains on until its validation accuracy reaches %s, for at most %d epochs (bp_reference.csv)", pct(p.BPTarget), p.BPMaxEpochs)
	if p.BPMaxEpochs <= p.Epochs {
		bpNote = "this preset trains it no longer than FPA-PC"
	}
	md.p("**Setting**: the networks of the cosine grid (same seed, same initial weights and batch order as BP at "+
		"each H), trained %d epochs on %d images, validated %d times per epoch on %d images and tested on %d. "+
		"BP at the same H is the reference; %s.", p.Epochs, g.sizes[0], p.EvalsPerEpoch, g.sizes[1], g.sizes[2], bpNote)
	md.image("validation accuracy", "accuracy_val.png")
	md.image("test accuracy", "accuracy_test.png")
	md.p("**Measured** (test accuracy after %d epochs; BP's in the last column):", p.Epochs)
	for _, h := range p.Hidden {
		header := []string{fmt.Sprintf("H = %d: gamma \\ T/H", h)}
		for _, r := range ratios {
			header = append(header, fmt.Sprintf("%g", r))
		}
		header = append(header, "BP")
		var rows [][]string
		for _, gm := range p.Gammas {
			row := []string{fmt.Sprintf("%g", gm)}
			for _, r := range ratios {
				row = append(row, pct(float64(g.point(h, gm, r).Test)))
			}
			row = append(row, pct(float64(g.bp[h].Test)))
			rows = append(rows, row)
		}
		md.table(header, rows)
	}
	var refRows [][]string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		reached := "not reached"
		if bp.TargetEpoch > 0 {
			reached = fmt.Sprintf("epoch %d", bp.TargetEpoch)
		}
		refRows = append(refRows, []string{fmt.Sprint(h), pct(bp.valAt(p.Epochs)), pct(float64(bp.Test)), reached,
			fmt.Sprint(bp.FinalEpochs), pct(float64(bp.FinalVal)), pct(float64(bp.FinalTest))})
	}
	md.p("**BP reference:**")
	md.table([]string{"H", fmt.Sprintf("val after %d", p.Epochs), fmt.Sprintf("test after %d", p.Epochs),
		pct(p.BPTarget) + " val", "epochs trained", "final val", "final test"}, refRows)
	md.p("**Claims against measurements:**")
	md.checks(checks)
	md.p("Validation accuracy along training, a panel per gamma: accuracy_curves_H*.png.")
	if err := md.write(env.path("accuracy.md")); err != nil {
		return nil, err
	}
	return checks, nil
}

func accuracyPlot(g *gridResults, h int, get func(*pointResult) float64) (*plot.Plot, error) {
	ratios := ratiosOf(g.preset)
	pl := newPlot(fmt.Sprintf("H = %d hidden layers", h), "inference steps / hidden layers (T/H)", "accuracy")
	log2Axis(&pl.X, ratios)
	for i, gm := range g.preset.Gammas {
		ys := make([]float64, len(ratios))
		for j, r := range ratios {
			ys[j] = get(g.point(h, gm, r))
		}
		if err := (series{name: fmt.Sprintf("gamma = %g", gm), xs: log2s(ratios), ys: ys, color: seriesColor(i), points: true}).add(pl); err != nil {
			return nil, err
		}
	}
	if err := hline(pl, "BP", get(g.bp[h]), pl.X.Min, pl.X.Max, black); err != nil {
		return nil, err
	}
	pl.Y.Max = math.Min(1, pl.Y.Max+0.01)
	minSpan(&pl.Y, 0.1)
	return pl, nil
}

// curvesPlot draws validation accuracy along training at one H: a panel per gamma, a
// line per T/H, and BP's.
func curvesPlot(env *runEnv, g *gridResults, h int) error {
	p := g.preset
	var ps []*plot.Plot
	bp := g.bp[h]
	for _, gm := range p.Gammas {
		pl := newPlot(fmt.Sprintf("H = %d, gamma = %g", h, gm), "epochs", "validation accuracy")
		for i, r := range ratiosOf(p) {
			pt := g.point(h, gm, r)
			xs, ys := curve(pt.Val)
			if err := (series{name: fmt.Sprintf("T/H = %g (T=%d)", r, pt.Spec.Steps), xs: xs, ys: ys, color: seriesColor(i)}).add(pl); err != nil {
				return err
			}
		}
		xs, ys := curve(bp.Val)
		// BP may have trained on towards its target; show it over the same epochs.
		n := 0
		for n < len(xs) && xs[n] <= float64(p.Epochs) {
			n++
		}
		if err := (series{name: "BP", xs: xs[:n], ys: ys[:n], color: black, dashed: true}).add(pl); err != nil {
			return err
		}
		pl.Y.Min, pl.Y.Max = 0, 1
		pl.Legend.Top = false
		ps = append(ps, pl)
	}
	rows := math.Ceil(float64(len(ps)) / 2)
	return saveTiles(env.path(fmt.Sprintf("accuracy_curves_H%d.png", h)),
		fmt.Sprintf("Validation accuracy along training, H = %d", h), gridOf(ps, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(rows))
}

func curve(v []evalPoint) (xs, ys []float64) {
	for _, e := range v {
		xs = append(xs, e.Epoch)
		ys = append(ys, float64(e.Accuracy))
	}
	return xs, ys
}

func accuracySection(g *gridResults, checks []check) section {
	p := g.preset
	s := section{
		name: "accuracy", title: "accuracy: FPA-PC against BP (Figures 4 and 5)", image: "accuracy_test.png", checks: checks,
		claim: "Validation and test accuracies drop significantly as the number of inference steps falls below the " +
			"number of layers, and with step sizes below 1 (§3.4.2, Figs. 4 and 5).",
	}
	ratios := ratiosOf(p)
	for _, h := range p.Hidden {
		bp := g.bp[h]
		var parts []string
		for _, gm := range p.Gammas {
			var cells []string
			for _, r := range []float64{ratios[0], 1, ratios[len(ratios)-1]} {
				if pt := g.point(h, gm, r); pt != nil {
					cells = append(cells, pct(float64(pt.Test)))
				}
			}
			parts = append(parts, fmt.Sprintf("gamma %g: %s", gm, strings.Join(cells, " / ")))
		}
		s.measure = append(s.measure, fmt.Sprintf("H=%d, test accuracy at T/H = %g / 1 / %g: %s; BP %s",
			h, ratios[0], ratios[len(ratios)-1], strings.Join(parts, "; "), pct(float64(bp.Test))))
	}
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if float64(bp.Test) < learnsAccuracy {
			more := fmt.Sprintf("it did not reach %s validation accuracy in %d epochs either", pct(p.BPTarget), bp.FinalEpochs)
			if bp.TargetEpoch > 0 {
				more = fmt.Sprintf("it reaches %s validation accuracy only after %d epochs", pct(p.BPTarget), bp.TargetEpoch)
			}
			s.differs = append(s.differs, fmt.Sprintf("At H=%d BP itself is at %s test accuracy after %d epochs (lr %g): "+
				"through %d tanh layers with PyTorch's initialisation the gradient vanishes and training starts late; %s. "+
				"No FPA-PC point can do better, so this H shows no drop.", h, pct(float64(bp.Test)), p.Epochs, p.LR, h, more))
		}
	}
	return s
}

// accuracyExperiment is the paper's Figures 4 and 5 on the shared training grid.
type accuracyExperiment struct{}

func (accuracyExperiment) name() string { return "accuracy" }

func (accuracyExperiment) describe() string {
	return "Figures 4 and 5: validation and test accuracy of FPA-PC against BP"
}

func (accuracyExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	g, err := env.grid(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := writeAccuracy(env, g)
	if err != nil {
		return nil, err
	}
	return &report{checks: cs, section: accuracySection(g, cs), measured: g}, nil
}
