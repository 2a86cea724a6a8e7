package experiments

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pcnet/pcnet/pcnet"
)

// section is one experiment's part of README.md: its headline plot, the paper's claim
// and pcnet's measurement side by side, and where the two differ.
type section struct {
	name    string // the experiment, and its NAME.md
	title   string
	image   string
	claim   string
	checks  []check
	measure []string
	differs []string
}

func (m *markdown) section(s section) {
	m.p("## %s", s.title)
	m.image(s.title, s.image)
	m.table([]string{"the paper", "pcnet measured"}, [][]string{{s.claim, strings.Join(s.measure, "<br>")}})
	if len(s.differs) > 0 {
		m.p("**Where they differ:**")
		for _, d := range s.differs {
			m.WriteString("- " + d + "\n")
		}
		m.WriteString("\n")
	}
	m.checks(s.checks)
	m.p("Details, tables and every plot: [%s.md](%s.md).", s.name, s.name)
}

func cosineSection(g *gridResults, checks []check) section {
	p := g.preset
	s := section{
		name: "cosine", title: "cosine: FPA-PC's update against BP's (Figure 3)", image: "cosine.png", checks: checks,
		claim: "The cosine similarity between FPA-PC's and BP's updates drops rapidly as the number of inference " +
			"steps T falls below the number of layers; with step sizes below 1 FPA-PC fails to converge to BP's " +
			"update even for T above it (§3.4.2).",
	}
	ratios := ratiosOf(p)
	for _, h := range p.Hidden {
		var parts []string
		for _, gm := range p.Gammas {
			var cells []string
			for _, r := range []float64{ratios[0], 1, ratios[len(ratios)-1]} {
				if pt := g.point(h, gm, r); pt != nil {
					m, _, _ := pt.cosineStats()
					cells = append(cells, fmt.Sprintf("%s at T/H=%g", f3(m), r))
				}
			}
			parts = append(parts, fmt.Sprintf("gamma %g: %s", gm, strings.Join(cells, ", ")))
		}
		s.measure = append(s.measure, fmt.Sprintf("H=%d: %s", h, strings.Join(parts, "; ")))
	}
	// The first-epoch mean along each run's own training against the same weights.
	if len(checks) >= 2 {
		riseInit, riseMean := checks[len(checks)-2], checks[len(checks)-1]
		if riseInit.OK && !riseMean.OK {
			s.differs = append(s.differs, "Along training, the first-epoch mean cosine does not always rise with T/H ("+
				riseMean.Detail+"). Each point trains along its own trajectory, so each mean is taken over different "+
				"weights: as training moves the layers' shares of BP's gradient, the cosine moves with them (its only "+
				"source is the uneven scaling of the layers' updates, see below). At the same weights (the first batch, "+
				"at initialisation: cosine_init.png) the cosine rises with T/H at every H and gamma, as the paper says.")
		}
	}
	// Under FPA the errors obey a linear recursion with frozen Jacobians and a constant
	// source, so each e_l(t) is a scalar multiple of BP's: every layer's update points
	// exactly along BP's gradient, only its length is off.
	lowest := math.Inf(1)
	for _, pt := range g.fpa {
		for _, c := range pt.LayerCosine {
			if !math.IsNaN(float64(c)) {
				lowest = math.Min(lowest, float64(c))
			}
		}
	}
	if lowest >= 1-exactCosineTol {
		s.differs = append(s.differs, fmt.Sprintf("Where the cosine is below 1, FPA-PC's update is not pointing the wrong "+
			"way layer by layer: every weight layer's non-zero update has cosine 1 with BP's gradient for that layer "+
			"(the lowest of any point and layer: 1 - %.0e; cosine_layers.csv). With the Jacobians frozen and the output "+
			"error fixed, e_l(t) = a_d(t)·e_l(BP) for a scalar a_d(t) in [0, 1] that grows with t and depends only on "+
			"the distance d and gamma (a = 0 before the error arrives, 1 once converged). Too few steps or too small a "+
			"step scale the layers' updates unevenly, like per-layer learning rates; the overall cosine measures that "+
			"unevenness, which the paper reads as a failure to converge.", math.Max(1-lowest, 1e-16)))
	}
	// Small steps that do reach BP's update given enough of them.
	var reached []string
	for _, h := range p.Hidden {
		for _, gm := range p.Gammas {
			if gm == 1 {
				continue
			}
			for _, r := range ratios {
				if pt := g.point(h, gm, r); pt != nil && r >= 1 {
					if m, _, _ := pt.cosineStats(); m >= 0.999 {
						reached = append(reached, fmt.Sprintf("H=%d gamma=%g from T/H=%g", h, gm, r))
						break
					}
				}
			}
		}
	}
	if len(reached) > 0 {
		s.differs = append(s.differs, fmt.Sprintf("With step sizes below 1 the cosine keeps rising with T and reaches 0.999 "+
			"or more within the grid at %s: small steps fail to converge in about H steps, as the paper says, but not "+
			"for every T above it.", strings.Join(reached, ", ")))
	}
	// gamma = 1, T < H: the top weight layers get BP's exact update and those below
	// distance T get none, so cos² is the top layers' share of BP's squared gradient.
	for _, h := range p.Hidden {
		for _, r := range ratios {
			pt := g.point(h, 1, r)
			if pt == nil || r >= 1 {
				continue
			}
			if m, _, _ := pt.cosineStats(); m > 1-visibleDrop {
				s.differs = append(s.differs, fmt.Sprintf("At H=%d, gamma=1, T=%d < H the cosine is %s although %d weight "+
					"layers get exactly zero updates (Theorem 1): their share of BP's squared gradient norm is only "+
					"about 1 - cos² = %.1e, because with PyTorch's initialisation the gradient shrinks through every tanh "+
					"layer. The paper's drop below T = H is there layer by layer (cosine_layers.csv: no cosine for the "+
					"zeroed layers), but the concatenated cosine barely shows it.", h, pt.Spec.Steps, f4(m), pt.ZeroLayers, 1-m*m))
				break
			}
		}
	}
	// Deep networks whose lowest layers barely learn: the overall cosine hides them.
	for _, h := range p.Hidden {
		pt := g.point(h, p.Gammas[0], 1)
		if pt == nil || len(pt.LayerCosine) == 0 || p.Gammas[0] == 1 {
			continue
		}
		m, _, _ := pt.cosineStats()
		low := float64(pt.LayerCosine[0])
		if m-low > 0.2 {
			s.differs = append(s.differs, fmt.Sprintf("At H=%d, gamma=%g, T=H the cosine over all layers is %s while the "+
				"lowest weight layer's alone is %s (cosine_layers.csv): with PyTorch's initialisation the gradient "+
				"shrinks through every tanh layer, so the top layers dominate the concatenated update and the overall "+
				"cosine understates how wrong the lower layers' updates are.", h, p.Gammas[0], f3(m), f3(low)))
		}
	}
	return s
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

func wavefrontSection(w *wavefrontResults, checks []check) section {
	p := w.preset
	s := section{
		name: "wavefront", title: "wavefront: Theorem 1", image: fmt.Sprintf("wavefront_%s.png", pcnet.FixedPrediction), checks: checks,
		claim: "Under FPA-PC and standard PC (and Z-IL), started at the feed-forward values, the error of the node at " +
			"distance d from the output is exactly zero before step d and first non-zero at t = d; so no node converges " +
			"in fewer than d steps (Theorem 1, Corollary 1).",
	}
	h := p.WavefrontHeatHidden
	for _, c := range wavefrontCases {
		r := w.run(h, c)
		conv := "not converged by T"
		if r.convMax[h-1] >= 0 && r.unconverged[h-1] == 0 {
			conv = fmt.Sprintf("converged at t=%d", r.convMax[h-1])
		}
		s.measure = append(s.measure, fmt.Sprintf("%s gamma=%g, H=%d: first non-zero step %s by distance 1..%d; the deepest node %s (T=%d)",
			variantTitle(c.variant), c.gamma, h, ints(r.firstMin), h, conv, r.steps))
	}
	var late []string
	fpaExact := true
	for _, r := range w.runs {
		if !r.identity() {
			fpaExact = fpaExact && r.variant != pcnet.FixedPrediction
			late = append(late, fmt.Sprintf("%s gamma=%g H=%d (%s for d = 1..%d)", variantTitle(r.variant), r.gamma, r.hidden, ints(r.firstMin), r.hidden))
		}
	}
	if len(late) > 0 {
		note := fmt.Sprintf("No error ever arrives early, but some arrive late in float64: %s. Standard PC and Z-IL "+
			"integrate the state x_l, and an arriving error smaller than half an ulp of x_l is rounded away "+
			"(DESIGN §6), so e_l = x_l - f(x_{l-1}) stays exactly zero a few steps longer.", strings.Join(late, "; "))
		if fpaExact {
			note += " FPA-PC, which pcnet integrates in e_l, shows the identity exactly at every H."
		}
		s.differs = append(s.differs, note)
	}
	var slow []string
	for _, c := range wavefrontCases {
		if r := w.run(h, c); r.unconverged[h-1] > 0 {
			slow = append(slow, fmt.Sprintf("%s gamma=%g", variantTitle(c.variant), c.gamma))
		}
	}
	if len(slow) > 0 {
		s.differs = append(s.differs, fmt.Sprintf("Corollary 1 is a lower bound and holds everywhere; in practice the "+
			"deepest node's error is still moving (by more than %g relative) after %d steps = %dH for %s: with small "+
			"steps convergence is geometric and takes far more than d steps, and standard PC at gamma 1 (Z-IL's "+
			"dynamics, run past t = H) does not settle at all.",
			convergenceTol, p.WavefrontStepsPerLayer*h, p.WavefrontStepsPerLayer, strings.Join(slow, ", ")))
	}
	return s
}

func complexitySection(c *complexityResults, checks []check) section {
	p := c.preset
	s := section{
		name: "complexity", title: "complexity: time per weight update (Result 3)", image: "complexity_ratio.png", checks: checks,
		claim: "FPA-PC and Z-IL have a time complexity at least BP's even with every inference step fully parallel: " +
			"TIME{PC} >= TIME{BP} (eqs. 3.27-3.36), the bound close to tight only at T = H (step size 1).",
	}
	for _, procs := range p.ComplexityProcs {
		for _, m := range complexityMethods[1:] {
			var rs []float64
			for _, h := range p.ComplexityHidden {
				rs = append(rs, c.get(m.name, h, procs).ratio)
			}
			s.measure = append(s.measure, fmt.Sprintf("GOMAXPROCS %d, %s: PC/BP from %.2f (H=%d) to %.2f (H=%d)",
				procs, m.label, rs[0], p.ComplexityHidden[0], rs[len(rs)-1], p.ComplexityHidden[len(rs)-1]))
		}
	}
	s.differs = append(s.differs, fmt.Sprintf("The bound is for maximally parallel hardware, where an inference step costs "+
		"one VJP latency; here %s cores run H+2 node goroutines, so PC's extra VJPs (H·T + H + 1 against BP's 2H + 1, "+
		"complexity_vjps.png) mostly add up instead of overlapping, and the measured ratio grows with H far above the "+
		"bound's 1. The bound's near-equality shows only at H = 1, where PC and BP compute the same three products.",
		fmt.Sprint(slices.Max(p.ComplexityProcs))))
	lowest := math.Inf(1)
	for _, pt := range c.points {
		if pt.method.variant != 0 {
			lowest = math.Min(lowest, pt.ratio)
		}
	}
	if lowest < 1 {
		s.differs = append(s.differs, fmt.Sprintf("The lowest measured ratio is %.2f, below the bound: a measurement on "+
			"a shared machine, see complexity.csv for the spread.", lowest))
	}
	return s
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}
