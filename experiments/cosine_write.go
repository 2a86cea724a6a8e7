package experiments

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/pcnet/pcnet/internal/render"
)

// writeCosine writes the cosine experiment's files (the paper's Figure 3).
func writeCosine(env *runEnv, g *gridResults, checks []check) error {
	p := g.preset
	ratios := ratiosOf(p)
	main := render.NewTable("hidden", "gamma", "ratio", "steps", "compared_batches", "mean_cosine", "min_cosine", "max_cosine", "cosine_at_init", "zero_update_layers")
	layers := render.NewTable("hidden", "gamma", "ratio", "steps", "weight_layer", "distance_of_error", "mean_cosine")
	trace := render.NewTable("hidden", "gamma", "ratio", "steps", "batch", "cosine")
	for _, h := range p.Hidden {
		for _, gm := range p.Gammas {
			for _, r := range ratios {
				pt := g.point(h, gm, r)
				if pt == nil {
					return fmt.Errorf("cosine: grid point H=%d gamma=%g T/H=%g is missing", h, gm, r)
				}
				T := pt.Spec.Steps
				mean, lo, hi := pt.cosineStats()
				main.Add(h, gm, r, T, len(pt.Cosine), mean, lo, hi, pt.cosineAtInit(), pt.ZeroLayers)
				for l, c := range pt.LayerCosine {
					// Weight layer l learns from e_{l+1}, the error of node l+1 at distance H-l.
					layers.Add(h, gm, r, T, l, h-l, c)
				}
				// At most about 100 rows per point: the trace is for plotting, not for record.
				stride := max(1, (len(pt.Cosine)+99)/100)
				for i := 0; i < len(pt.Cosine); i += stride {
					trace.Add(h, gm, r, T, i*pt.Spec.CosineEvery, pt.Cosine[i])
				}
			}
		}
	}
	for file, t := range map[string]*render.Table{"cosine.csv": main, "cosine_layers.csv": layers, "cosine_trace.csv": trace} {
		if err := t.WriteFile(env.path(file)); err != nil {
			return err
		}
	}

	firstEpochMean := func(r *pointResult) float64 { m, _, _ := r.cosineStats(); return m }
	if err := drawCosine(env, g, firstEpochMean, (*pointResult).cosineAtInit); err != nil {
		return err
	}

	md := newPage(env, "# cosine: FPA-PC updates against BP's gradient (paper Figure 3)")
	md.P("**The paper** (§3.4.2, Fig. 3): the cosine similarity between FPA-PC's weight update and BP's " +
		"drops rapidly once the number of inference steps T falls below the number of layers; with step sizes " +
		"below 1, FPA-PC fails to converge to BP's update even for T above it. Theorem 1 explains the first half: " +
		"the error of a node at distance d from the output is exactly zero for t < d, so with T < H the weight " +
		"layers below distance T get no update at all.")
	md.P("**Setting**: MLPs 784-64xH-10 (tanh, log-softmax, NLL), SGD lr %g momentum %g, batch %d, PyTorch init, "+
		"%d training images; FPA-PC with T = max(1, floor(T/H·H)) steps (see the package docs for the rounding; "+
		"where several T/H give the same T, as 0.25, 0.5 and 0.75 at H = 2, the plots draw that T once, at its own T/H). "+
		"For every batch of the first epoch, BP's gradient is computed at the same weights on the same batch, and "+
		"the cosine is taken over all weights and biases of all layers concatenated. The table gives its mean over "+
		"the epoch; cosine.csv also has the minimum and maximum, cosine_layers.csv the mean per weight layer "+
		"(empty where the layer's update was exactly zero), cosine_trace.csv the values along the epoch.",
		p.LR, p.Momentum, p.Batch, g.sizes[0])
	md.Image("cosine per H", "cosine.png")
	for _, v := range []struct {
		what string
		get  func(*pointResult) float64
	}{
		{"mean cosine over the first epoch, along each run's own training", func(r *pointResult) float64 { m, _, _ := r.cosineStats(); return m }},
		{"cosine on the first batch, at the initial weights every point of an H shares", (*pointResult).cosineAtInit},
	} {
		md.P("**Measured** (%s):", v.what)
		for _, h := range p.Hidden {
			header := []string{fmt.Sprintf("H = %d: gamma \\ T/H", h)}
			for _, r := range ratios {
				header = append(header, fmt.Sprintf("%g (T=%d)", r, Steps(r, h)))
			}
			var rows [][]string
			for _, gm := range p.Gammas {
				row := []string{fmt.Sprintf("%g", gm)}
				for _, r := range ratios {
					row = append(row, render.Fixed(v.get(g.point(h, gm, r)), 4))
				}
				rows = append(rows, row)
			}
			md.Table(header, rows)
		}
	}
	md.Image("cosine at initialisation", "cosine_init.png")
	md.P("**Claims against measurements:**")
	writeChecks(md, checks)
	md.Image("cosine along the first epoch", "cosine_trace.png")
	if err := md.WriteFile(env.path("cosine.md")); err != nil {
		return err
	}
	return nil
}

// drawCosine draws the cosine experiment's plots: mean and atInit give each point's
// first-epoch mean cosine and its cosine at initialisation (from the points' traces after
// a run, from cosine.csv when Replot redraws).
func drawCosine(env *runEnv, g *gridResults, mean, atInit func(*pointResult) float64) error {
	p := g.preset
	var perH, initPlots []*plot.Plot
	for _, h := range p.Hidden {
		pl, err := cosinePlot(g, h, "first-epoch mean", mean)
		if err != nil {
			return err
		}
		pi, err := cosinePlot(g, h, "at initialisation", atInit)
		if err != nil {
			return err
		}
		initPlots = append(initPlots, pi)
		if err := render.SavePlot(env.path(fmt.Sprintf("cosine_H%d.png", h)), pl, 5*vg.Inch, 3.6*vg.Inch); err != nil {
			return err
		}
		perH = append(perH, pl)
	}
	title := "FPA-PC vs BP: cosine of the weight updates over the first epoch (paper Fig. 3)"
	if err := render.SaveTiles(env.path("cosine.png"), title, render.GridOf(perH, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(math.Ceil(float64(len(perH))/2))); err != nil {
		return err
	}
	title = "FPA-PC vs BP at the same weights: cosine on the first batch, at initialisation"
	if err := render.SaveTiles(env.path("cosine_init.png"), title, render.GridOf(initPlots, 2), 10*vg.Inch, 3.6*vg.Inch*vg.Length(math.Ceil(float64(len(initPlots))/2))); err != nil {
		return err
	}
	return cosineTracePlot(env, g)
}

func cosinePlot(g *gridResults, h int, what string, get func(*pointResult) float64) (*plot.Plot, error) {
	ratios := ratiosOf(g.preset)
	pl := render.NewPlot(fmt.Sprintf("H = %d hidden layers, %s", h, what), "inference steps / hidden layers (T/H)", "cosine(FPA-PC update, BP)")
	render.Log2Axis(&pl.X, ratios)
	groups := stepGroups(ratios, h)
	lo := 1.0
	for i, gm := range g.preset.Gammas {
		xs, ys := make([]float64, len(groups)), make([]float64, len(groups))
		for j, sg := range groups {
			xs[j], ys[j] = math.Log2(sg.at(h)), get(g.point(h, gm, sg.ratios[0]))
			lo = math.Min(lo, ys[j])
		}
		if err := (render.Series{Name: fmt.Sprintf("gamma = %g", gm), XS: xs, YS: ys, Color: render.SeriesColor(i), Points: true}).Add(pl); err != nil {
			return nil, err
		}
	}
	lo = math.Max(-1, math.Floor(lo*10)/10)
	if err := (render.Series{Name: "T = H", XS: []float64{0, 0}, YS: []float64{lo, 1}, Color: render.Grey, Dashed: true}).Add(pl); err != nil {
		return nil, err
	}
	pl.Y.Min, pl.Y.Max = lo, 1.02
	pl.Legend.Top = false
	pl.Legend.Left = false
	return pl, nil
}

// cosineTracePlot draws the cosine along the first epoch at T = H, a line per gamma, one
// panel per H.
func cosineTracePlot(env *runEnv, g *gridResults) error {
	var ps []*plot.Plot
	for _, h := range g.preset.Hidden {
		pl := render.NewPlot(fmt.Sprintf("H = %d, T = H = %d", h, h), "batch of the first epoch", "cosine(FPA-PC update, BP)")
		for i, gm := range g.preset.Gammas {
			pt := g.point(h, gm, 1)
			if pt == nil {
				continue
			}
			xs := make([]float64, len(pt.Cosine))
			ys := make([]float64, len(pt.Cosine))
			for j, c := range pt.Cosine {
				xs[j], ys[j] = float64(j*pt.Spec.CosineEvery), float64(c)
			}
			if err := (render.Series{Name: fmt.Sprintf("gamma = %g", gm), XS: xs, YS: ys, Color: render.SeriesColor(i)}).Add(pl); err != nil {
				return err
			}
		}
		// A cosine is at most 1: a margin above it in proportion to the range, so that a
		// panel whose cosines sit near 1 (H = 16) gets no ticks above 1.
		pl.Y.Max = 1 + 0.03*(1-pl.Y.Min)
		pl.Y.Tick.Marker = render.DistinctTicker{}
		pl.X.Tick.Marker = render.IntTicker{}
		ps = append(ps, pl)
	}
	rows := math.Ceil(float64(len(ps)) / 2)
	return render.SaveTiles(env.path("cosine_trace.png"), "Cosine along the first epoch at T = H", render.GridOf(ps, 2), 10*vg.Inch, 3.4*vg.Inch*vg.Length(rows))
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
					cells = append(cells, fmt.Sprintf("%s at T/H=%g", render.Fixed(m, 3), r))
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
					"zeroed layers), but the concatenated cosine barely shows it.", h, pt.Spec.Steps, render.Fixed(m, 4), pt.ZeroLayers, 1-m*m))
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
				"cosine understates how wrong the lower layers' updates are.", h, p.Gammas[0], render.Fixed(m, 3), render.Fixed(low, 3)))
		}
	}
	return s
}
