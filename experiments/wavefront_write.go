package experiments

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/pcnet"
)

// writeWavefront writes the wavefront experiment's files (Theorem 1).
func writeWavefront(env *runEnv, w *wavefrontResults, checks []check) error {
	p := w.preset
	tab := render.NewTable("variant", "gamma", "hidden", "steps", "distance", "first_nonzero_min", "first_nonzero_max", "identity",
		"converged_min", "converged_max", "unconverged_batches", "batches", "vjps_per_inference", "vjps_computed")
	heat := render.NewTable("variant", "gamma", "hidden", "node", "distance", "step", "error_max_abs", "change_max_abs")
	for _, r := range w.runs {
		for d := 1; d <= r.hidden; d++ {
			tab.Add(r.variant, r.gamma, r.hidden, r.steps, d, r.firstMin[d-1], r.firstMax[d-1],
				r.firstMin[d-1] == d && r.firstMax[d-1] == d, r.convMin[d-1], r.convMax[d-1], r.unconverged[d-1], r.batches, r.vjps, r.vjpsComputed)
			if r.hidden == p.WavefrontHeatHidden {
				for t, c := range r.change[d-1] {
					heat.Add(r.variant, r.gamma, r.hidden, r.hidden+1-d, d, t, r.size[d-1][t], c)
				}
			}
		}
	}
	if err := tab.WriteFile(env.path("wavefront_table.csv")); err != nil {
		return err
	}
	if err := heat.WriteFile(env.path("wavefront.csv")); err != nil {
		return err
	}
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.ZeroDivergence} {
		var runs []*wavefrontRun
		for _, c := range wavefrontCases {
			if c.variant == v {
				runs = append(runs, w.run(p.WavefrontHeatHidden, c))
			}
		}
		if err := heatMaps(env.path(fmt.Sprintf("wavefront_%s.png", v)), runs); err != nil {
			return err
		}
	}

	md := newPage(env, "# wavefront: how far the output error has travelled after t steps (Theorem 1)")
	md.P("**The paper** (§3.4.2, Theorem 1 and Corollary 1): started from the feed-forward values, under standard PC " +
		"and FPA-PC (and so Z-IL) the error of the node at distance d from the output is exactly zero until step " +
		"t = d and first non-zero at t = d; so no node can converge in fewer than d steps, and the parallel " +
		"inference steps carry the error down one layer per step, as BP's backward pass does.")
	md.P("**Setting**: freshly initialised networks (the grid's seed), inference only, on the first %d training "+
		"batches of %d, T = %d·H steps. The runtime's observer reports max|e_l(t)| and max|e_l(t) - e_l(t-1)| of "+
		"every hidden node l at every step t = 0..T; distance d = H+1-l. First non-zero: the first t with "+
		"max|e_l(t)| != 0 (exact, no tolerance). Converged: the last step t with max|e_l(t) - e_l(t-1)| > %g·max|e_l(t)|, "+
		"when that is not T itself (then: not converged by T).", w.preset.WavefrontBatches, p.Batch, p.WavefrontStepsPerLayer, convergenceTol)
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.ZeroDivergence} {
		md.Image(variantTitle(v)+" wavefront", fmt.Sprintf("wavefront_%s.png", v))
	}
	md.P("**Measured**: first non-zero step by distance (all H; the cell is d when the minimum and maximum over batches are both d):")
	var hs []int
	for _, r := range w.runs {
		if !slices.Contains(hs, r.hidden) {
			hs = append(hs, r.hidden)
		}
	}
	header := []string{"variant", "gamma"}
	for _, h := range hs {
		header = append(header, fmt.Sprintf("H=%d: d = 1..%d", h, h))
	}
	var rows [][]string
	for _, c := range wavefrontCases {
		row := []string{variantTitle(c.variant), fmt.Sprint(c.gamma)}
		for _, h := range hs {
			r := w.run(h, c)
			cells := make([]string, h)
			for d := 1; d <= h; d++ {
				if r.firstMin[d-1] == r.firstMax[d-1] {
					cells[d-1] = fmt.Sprint(r.firstMin[d-1])
				} else {
					cells[d-1] = fmt.Sprintf("%d..%d", r.firstMin[d-1], r.firstMax[d-1])
				}
			}
			verdict := "identity"
			if !r.identity() {
				verdict = "**not the identity**"
			}
			row = append(row, fmt.Sprintf("%s (%s)", strings.Join(cells, " "), verdict))
		}
		rows = append(rows, row)
	}
	md.Table(header, rows)
	md.P("**Steps to converge** at H = %d (the latest over the batches; \"–\" where no batch converged by T = %d):",
		p.WavefrontHeatHidden, p.WavefrontStepsPerLayer*p.WavefrontHeatHidden)
	header = []string{"distance d"}
	for _, c := range wavefrontCases {
		header = append(header, fmt.Sprintf("%s gamma=%g", variantTitle(c.variant), c.gamma))
	}
	rows = nil
	for d := 1; d <= p.WavefrontHeatHidden; d++ {
		row := []string{fmt.Sprint(d)}
		for _, c := range wavefrontCases {
			r := w.run(p.WavefrontHeatHidden, c)
			cell := "–"
			if r.convMax[d-1] >= 0 {
				cell = fmt.Sprint(r.convMax[d-1])
				if r.unconverged[d-1] > 0 {
					cell += fmt.Sprintf(" (%d/%d not)", r.unconverged[d-1], r.batches)
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	md.Table(header, rows)
	md.P("**Claims against measurements:**")
	writeChecks(md, checks)
	if err := md.WriteFile(env.path("wavefront.md")); err != nil {
		return err
	}
	return nil
}

// changeGrid is a heat map's data: log10 of max|Δe| by step (columns) and distance
// (rows); exactly zero is NaN, drawn white.
type changeGrid struct{ r *wavefrontRun }

func (g changeGrid) Dims() (c, r int) { return g.r.steps + 1, g.r.hidden }

func (g changeGrid) X(c int) float64 { return float64(c) }

func (g changeGrid) Y(r int) float64 { return float64(r + 1) }

func (g changeGrid) Z(c, r int) float64 {
	v := g.r.change[r][c]
	if v == 0 {
		return math.NaN()
	}
	return math.Log10(v)
}

// viridis returns a perceptually uniform colour map from dark blue to yellow.
func viridis() (palette.ColorMap, error) {
	hex := []uint32{0x440154, 0x482878, 0x3e4989, 0x31688e, 0x26828e, 0x1f9e89, 0x35b779, 0x6dcd59, 0xb4de2c, 0xfde725}
	cs := make([]color.Color, len(hex))
	for i, h := range hex {
		cs[i] = color.RGBA{uint8(h >> 16), uint8(h >> 8), uint8(h), 255}
	}
	return moreland.NewLuminance(cs)
}

// heatMaps draws one panel per run, stacked, with a shared colour bar.
func heatMaps(path string, runs []*wavefrontRun) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range runs {
		g := changeGrid{r}
		c, rows := g.Dims()
		for i := range c {
			for j := range rows {
				if z := g.Z(i, j); !math.IsNaN(z) {
					lo, hi = math.Min(lo, z), math.Max(hi, z)
				}
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = -1, 0
	}
	// Sixteen decades are all float64 has; below that is rounding noise.
	lo = math.Max(lo, hi-16)
	if hi-lo < 1 {
		lo = hi - 1
	}
	cmap, err := viridis()
	if err != nil {
		return err
	}
	cmap.SetMin(lo)
	cmap.SetMax(hi)
	pal := cmap.Palette(256)
	var plots [][]*plot.Plot
	for _, r := range runs {
		pl, err := heatPanel(r, pal, lo, hi)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{pl})
	}
	const barW = 1.1 * vg.Inch
	w, h := 9*vg.Inch, 2.9*vg.Inch*vg.Length(len(runs))
	return render.SavePNG(path, w, h, func(dc draw.Canvas) {
		main := draw.Crop(dc, 0, -barW, 0, 0)
		tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(10), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(6)}
		canvases := plot.Align(plots, tiles, main)
		for j := range plots {
			plots[j][0].Draw(canvases[j][0])
		}
		bar := plot.New()
		cb := &plotter.ColorBar{ColorMap: cmap, Vertical: true}
		bar.Add(cb)
		bar.HideX()
		bar.Y.Padding = 0
		bar.Y.Label.Text = "log10 max|e(t) - e(t-1)|   (white: exactly 0)"
		bar.Y.Label.TextStyle.Font.Size = vg.Points(9)
		// The bar is at most 3.2 inches tall, centred on the right.
		pad := max(0.3*vg.Inch, (h-3.2*vg.Inch)/2)
		barCanvas := draw.Crop(dc, w-barW, -vg.Points(6), pad, -pad)
		bar.Draw(barCanvas)
	})
}

func heatPanel(r *wavefrontRun, pal palette.Palette, lo, hi float64) (*plot.Plot, error) {
	title := fmt.Sprintf("%s, gamma = %g, H = %d: change of each node's error per inference step\n"+
		"red rings: first non-zero step; dashed: t = d (Theorem 1); black crosses: converged (tol %g)",
		variantTitle(r.variant), r.gamma, r.hidden, convergenceTol)
	pl := render.NewPlot(title, "inference step t", "distance d from the output")
	hm := plotter.NewHeatMap(changeGrid{r}, pal)
	hm.Min, hm.Max = lo, hi
	hm.NaN = color.White
	hm.Underflow = pal.Colors()[0]
	pl.Add(hm)
	pl.X.Tick.Marker = render.IntTicks(0, r.steps, r.hidden*max(1, r.steps/r.hidden/8))
	pl.Y.Tick.Marker = render.IntTicks(1, r.hidden, 0)
	pl.X.Padding, pl.Y.Padding = 0, 0

	// Theorem 1's prediction, t = d, under the marks of what was measured.
	diag := render.Series{XS: []float64{0, float64(r.hidden)}, YS: []float64{0, float64(r.hidden)}, Color: color.RGBA{200, 0, 0, 255}, Dashed: true}
	if err := diag.Add(pl); err != nil {
		return nil, err
	}
	var first, conv plotter.XYs
	for d := 1; d <= r.hidden; d++ {
		if t := r.firstMin[d-1]; t >= 0 {
			first = append(first, plotter.XY{X: float64(t), Y: float64(d)})
		}
		if t := r.convMax[d-1]; t >= 0 {
			conv = append(conv, plotter.XY{X: float64(t), Y: float64(d)})
		}
	}
	if len(first) > 0 {
		sc, err := plotter.NewScatter(first)
		if err != nil {
			return nil, err
		}
		sc.Shape = haloRing{}
		sc.Color = color.RGBA{230, 0, 0, 255}
		sc.Radius = vg.Points(4)
		pl.Add(sc)
	}
	if len(conv) > 0 {
		sc, err := plotter.NewScatter(conv)
		if err != nil {
			return nil, err
		}
		sc.Shape = haloCross{}
		sc.Color = render.Black
		sc.Radius = vg.Points(4)
		pl.Add(sc)
	}
	pl.X.Min, pl.X.Max = -0.5, float64(r.steps)+0.5
	pl.Y.Min, pl.Y.Max = 0.5, float64(r.hidden)+0.5
	return pl, nil
}

// haloRing and haloCross are thick glyphs on a white halo, visible on every colour of
// the palette.
type (
	haloRing  struct{}
	haloCross struct{}
)

func (haloRing) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	circle := func() vg.Path {
		var p vg.Path
		p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
		p.Arc(pt, sty.Radius, 0, 2*math.Pi)
		p.Close()
		return p
	}
	c.SetLineStyle(draw.LineStyle{Color: color.White, Width: vg.Points(3)})
	c.Stroke(circle())
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)})
	c.Stroke(circle())
}

func (haloCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 0.7071
	stroke := func() {
		var p vg.Path
		p.Move(vg.Point{X: pt.X - r, Y: pt.Y - r})
		p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
		c.Stroke(p)
		p = p[:0]
		p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
		p.Line(vg.Point{X: pt.X + r, Y: pt.Y - r})
		c.Stroke(p)
	}
	c.SetLineStyle(draw.LineStyle{Color: color.White, Width: vg.Points(3)})
	stroke()
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)})
	stroke()
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
			variantTitle(c.variant), c.gamma, h, render.Ints(r.firstMin), h, conv, r.steps))
	}
	var late []string
	fpaExact := true
	for _, r := range w.runs {
		if !r.identity() {
			fpaExact = fpaExact && r.variant != pcnet.FixedPrediction
			late = append(late, fmt.Sprintf("%s gamma=%g H=%d (%s for d = 1..%d)", variantTitle(r.variant), r.gamma, r.hidden, render.Ints(r.firstMin), r.hidden))
		}
	}
	if len(late) > 0 {
		note := fmt.Sprintf("No error ever arrives early, but some arrive late in float64: %s. Standard PC and Z-IL "+
			"integrate the state x_l, and an arriving error smaller than half an ulp of x_l is rounded away "+
			"(docs/design.md §6), so e_l = x_l - f(x_{l-1}) stays exactly zero a few steps longer.", strings.Join(late, "; "))
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
