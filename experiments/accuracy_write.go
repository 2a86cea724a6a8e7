package experiments

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/pcnet/pcnet/internal/render"
)

// writeAccuracy writes the accuracy experiment's files (the paper's Figures 4 and 5).
func writeAccuracy(env *runEnv, g *gridResults, checks []check) error {
	p := g.preset
	ratios := ratiosOf(p)
	final := render.NewTable("hidden", "gamma", "ratio", "steps", "val_accuracy", "test_accuracy", "test_loss", "bp_val_accuracy", "bp_test_accuracy", "diverged")
	curves := render.NewTable("algo", "hidden", "gamma", "ratio", "steps", "epoch", "val_accuracy", "val_loss")
	ref := render.NewTable("hidden", "epochs", "val_accuracy", "test_accuracy", "target", "target_epoch", "trained_epochs", "final_val_accuracy", "final_test_accuracy", "seconds")
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if bp == nil {
			return fmt.Errorf("accuracy: the BP reference of H=%d is missing", h)
		}
		ref.Add(h, p.Epochs, bp.valAt(p.Epochs), bp.Test, p.BPTarget, bp.TargetEpoch, bp.FinalEpochs, bp.FinalVal, bp.FinalTest, bp.Seconds)
		for _, v := range bp.Val {
			curves.Add("bp", h, "", "", "", v.Epoch, v.Accuracy, v.Loss)
		}
		for _, gm := range p.Gammas {
			for _, r := range ratios {
				pt := g.point(h, gm, r)
				if pt == nil {
					return fmt.Errorf("accuracy: grid point H=%d gamma=%g T/H=%g is missing", h, gm, r)
				}
				final.Add(h, gm, r, pt.Spec.Steps, pt.valAt(p.Epochs), pt.Test, pt.TestLoss, bp.valAt(p.Epochs), bp.Test, pt.Diverged != "")
				for _, v := range pt.Val {
					curves.Add("fpa", h, gm, r, pt.Spec.Steps, v.Epoch, v.Accuracy, v.Loss)
				}
			}
		}
	}
	for file, t := range map[string]*render.Table{"accuracy.csv": final, "accuracy_curves.csv": curves, "bp_reference.csv": ref} {
		if err := t.WriteFile(env.path(file)); err != nil {
			return err
		}
	}

	if err := drawAccuracy(env, g); err != nil {
		return err
	}

	md := newPage(env, "# accuracy: FPA-PC against BP on MNIST (paper Figures 4 and 5)")
	md.P("**The paper** (§3.4.2, Figs. 4 and 5): validation and test accuracies experience significant drops as " +
		"the number of inference steps falls below the number of layers, and with step sizes below 1.")
	bpNote := fmt.Sprintf("it also trains on until its validation accuracy reaches %s, for at most %s (bp_reference.csv)", render.Percent(p.BPTarget), render.Plural(p.BPMaxEpochs, "epoch"))
	if p.BPMaxEpochs <= p.Epochs {
		bpNote = "this preset trains it no longer than FPA-PC"
	}
	md.P("**Setting**: the networks of the cosine grid (same seed, same initial weights and batch order as BP at "+
		"each H), trained %s on %d images, validated %d times per epoch on %d images and tested on %d. "+
		"BP at the same H is the reference; %s.", render.Plural(p.Epochs, "epoch"), g.sizes[0], p.EvalsPerEpoch, g.sizes[1], g.sizes[2], bpNote)
	md.Image("validation accuracy", "accuracy_val.png")
	md.Image("test accuracy", "accuracy_test.png")
	md.P("**Measured** (test accuracy after %s; BP's in the last column):", render.Plural(p.Epochs, "epoch"))
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
				row = append(row, render.Percent(float64(g.point(h, gm, r).Test)))
			}
			row = append(row, render.Percent(float64(g.bp[h].Test)))
			rows = append(rows, row)
		}
		md.Table(header, rows)
	}
	var refRows [][]string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		reached := "not reached"
		if bp.TargetEpoch > 0 {
			reached = fmt.Sprintf("epoch %d", bp.TargetEpoch)
		}
		refRows = append(refRows, []string{fmt.Sprint(h), render.Percent(bp.valAt(p.Epochs)), render.Percent(float64(bp.Test)), reached,
			fmt.Sprint(bp.FinalEpochs), render.Percent(float64(bp.FinalVal)), render.Percent(float64(bp.FinalTest))})
	}
	md.P("**BP reference:**")
	md.Table([]string{"H", fmt.Sprintf("val after %d", p.Epochs), fmt.Sprintf("test after %d", p.Epochs),
		render.Percent(p.BPTarget) + " val", "epochs trained", "final val", "final test"}, refRows)
	md.P("**Claims against measurements:**")
	writeChecks(md, checks)
	md.P("Validation accuracy along training, a panel per gamma: accuracy_curves_H*.png.")
	if err := md.WriteFile(env.path("accuracy.md")); err != nil {
		return err
	}
	return nil
}

// drawAccuracy draws the accuracy experiment's plots.
func drawAccuracy(env *runEnv, g *gridResults) error {
	p := g.preset
	for _, kind := range []struct {
		file, what string
		get        func(*pointResult) float64
	}{
		{"accuracy_val", fmt.Sprintf("validation accuracy after %s (paper Fig. 4)", render.Plural(p.Epochs, "epoch")), func(r *pointResult) float64 { return r.valAt(p.Epochs) }},
		{"accuracy_test", fmt.Sprintf("test accuracy after %s (paper Fig. 5)", render.Plural(p.Epochs, "epoch")), func(r *pointResult) float64 { return float64(r.Test) }},
	} {
		var ps []*plot.Plot
		for _, h := range p.Hidden {
			pl, err := accuracyPlot(g, h, kind.get)
			if err != nil {
				return err
			}
			if err := render.SavePlot(env.path(fmt.Sprintf("%s_H%d.png", kind.file, h)), pl, 5*vg.Inch, 3.6*vg.Inch); err != nil {
				return err
			}
			ps = append(ps, pl)
		}
		rows := math.Ceil(float64(len(ps)) / 2)
		if err := render.SaveTiles(env.path(kind.file+".png"), "FPA-PC "+kind.what, render.GridOf(ps, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(rows)); err != nil {
			return err
		}
	}
	for _, h := range p.Hidden {
		if err := curvesPlot(env, g, h); err != nil {
			return err
		}
	}
	return nil
}

func accuracyPlot(g *gridResults, h int, get func(*pointResult) float64) (*plot.Plot, error) {
	ratios := ratiosOf(g.preset)
	pl := render.NewPlot(fmt.Sprintf("H = %d hidden layers", h), "inference steps / hidden layers (T/H)", "accuracy")
	render.Log2Axis(&pl.X, ratios)
	groups := stepGroups(ratios, h)
	for i, gm := range g.preset.Gammas {
		xs, ys := make([]float64, len(groups)), make([]float64, len(groups))
		for j, sg := range groups {
			xs[j], ys[j] = math.Log2(sg.at(h)), get(g.point(h, gm, sg.ratios[0]))
		}
		if err := (render.Series{Name: fmt.Sprintf("gamma = %g", gm), XS: xs, YS: ys, Color: render.SeriesColor(i), Points: true}).Add(pl); err != nil {
			return nil, err
		}
	}
	if err := render.HLine(pl, "BP", get(g.bp[h]), pl.X.Min, pl.X.Max, render.Black); err != nil {
		return nil, err
	}
	pl.Y.Max = math.Min(1, pl.Y.Max+0.01)
	render.MinSpan(&pl.Y, 0.1)
	return pl, nil
}

// curvesPlot draws validation accuracy along training at one H: a panel per gamma, a
// line per T/H, and BP's.
func curvesPlot(env *runEnv, g *gridResults, h int) error {
	p := g.preset
	var ps []*plot.Plot
	bp := g.bp[h]
	for _, gm := range p.Gammas {
		pl := render.NewPlot(fmt.Sprintf("H = %d, gamma = %g", h, gm), "epochs", "validation accuracy")
		// One line per T: ratios that floor to the same T train the same network.
		for i, sg := range stepGroups(ratiosOf(p), h) {
			xs, ys := curve(g.point(h, gm, sg.ratios[0]).Val)
			if err := (render.Series{Name: sg.label(), XS: xs, YS: ys, Color: render.SeriesColor(i)}).Add(pl); err != nil {
				return err
			}
		}
		xs, ys := curve(bp.Val)
		// BP may have trained on towards its target; show it over the same epochs.
		n := 0
		for n < len(xs) && xs[n] <= float64(p.Epochs) {
			n++
		}
		if err := (render.Series{Name: "BP", XS: xs[:n], YS: ys[:n], Color: render.Black, Dashed: true}).Add(pl); err != nil {
			return err
		}
		pl.Y.Min, pl.Y.Max = 0, 1
		pl.Legend.Top = false
		ps = append(ps, pl)
	}
	rows := math.Ceil(float64(len(ps)) / 2)
	return render.SaveTiles(env.path(fmt.Sprintf("accuracy_curves_H%d.png", h)),
		fmt.Sprintf("Validation accuracy along training, H = %d", h), render.GridOf(ps, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(rows))
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
					cells = append(cells, render.Percent(float64(pt.Test)))
				}
			}
			parts = append(parts, fmt.Sprintf("gamma %g: %s", gm, strings.Join(cells, " / ")))
		}
		s.measure = append(s.measure, fmt.Sprintf("H=%d, test accuracy at T/H = %g / 1 / %g: %s; BP %s",
			h, ratios[0], ratios[len(ratios)-1], strings.Join(parts, "; "), render.Percent(float64(bp.Test))))
	}
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if float64(bp.Test) < learnsAccuracy {
			more := fmt.Sprintf("it did not reach %s validation accuracy in %s either", render.Percent(p.BPTarget), render.Plural(bp.FinalEpochs, "epoch"))
			if bp.TargetEpoch > 0 {
				more = fmt.Sprintf("it reaches %s validation accuracy only after %s", render.Percent(p.BPTarget), render.Plural(bp.TargetEpoch, "epoch"))
			}
			s.differs = append(s.differs, fmt.Sprintf("At H=%d BP itself is at %s test accuracy after %s (lr %g): "+
				"through %d tanh layers with PyTorch's initialisation the gradient vanishes and training starts late; %s. "+
				"No FPA-PC point can do better, so this H shows no drop.", h, render.Percent(float64(bp.Test)), render.Plural(p.Epochs, "epoch"), p.LR, h, more))
		}
	}
	return s
}
