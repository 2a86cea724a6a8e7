package render

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// palette8 is Okabe and Ito's colour-blind-safe qualitative palette (black last).
var palette8 = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
}

// SeriesColor is the colour of the i-th series of a plot: the palette without its
// black, which marks references (BP, a bound), round and round.
func SeriesColor(i int) color.Color { return palette8[i%(len(palette8)-1)] }

// Black marks a reference line (BP, a bound); Grey a guide such as T = H.
var (
	Black = color.RGBA{0, 0, 0, 255}
	Grey  = color.RGBA{120, 120, 120, 255}
)

// NewPlot returns a plot with the house style: a title, labelled axes, a grid.
func NewPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Add(plotter.NewGrid())
	return p
}

// Series is one line of a line plot.
type Series struct {
	Name   string // in the legend; "" leaves it out
	XS, YS []float64
	Color  color.Color
	Dashed bool
	Points bool // a dot at every point as well as the line
}

// Add draws s on p, skipping NaN values (a line is broken there).
func (s Series) Add(p *plot.Plot) error {
	var xys plotter.XYs
	for i := range s.XS {
		if math.IsNaN(s.YS[i]) || math.IsInf(s.YS[i], 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: s.XS[i], Y: s.YS[i]})
	}
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %q: %w", s.Name, err)
	}
	l.Color = s.Color
	l.Width = vg.Points(1.5)
	if s.Dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	thumbs := []plot.Thumbnailer{l}
	if s.Points {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plot %q: %w", s.Name, err)
		}
		sc.Color = s.Color
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(2.2)
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	if s.Name != "" {
		p.Legend.Add(s.Name, thumbs...)
	}
	return nil
}

// HLine draws a horizontal reference line across [x0, x1].
func HLine(p *plot.Plot, name string, y, x0, x1 float64, c color.Color) error {
	return Series{Name: name, XS: []float64{x0, x1}, YS: []float64{y, y}, Color: c, Dashed: true}.Add(p)
}

// Log2Axis lays out values such as T/H or H on a log2 scale: x is drawn at log2(value),
// with a tick labelled by the value itself at every one of them. (plot.LogScale places
// the axis label by the arithmetic midpoint of the range, which pushes a long label off
// the right edge and squeezes the plot.)
func Log2Axis(a *plot.Axis, values []float64) {
	ticks := make(plot.ConstantTicks, len(values))
	for i, v := range values {
		ticks[i] = plot.Tick{Value: math.Log2(v), Label: strconv.FormatFloat(v, 'g', -1, 64)}
	}
	a.Tick.Marker = ticks
	a.Min, a.Max = math.Log2(values[0])-0.2, math.Log2(values[len(values)-1])+0.2
}

// Log2s maps values to their positions on a Log2Axis.
func Log2s(values []float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = math.Log2(v)
	}
	return out
}

// ShareY gives plots the union of their y ranges.
func ShareY(ps []*plot.Plot) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = math.Min(lo, p.Y.Min), math.Max(hi, p.Y.Max)
	}
	for _, p := range ps {
		p.Y.Min, p.Y.Max = lo, hi
	}
}

// MinSpan widens an axis to at least span around its middle, so that a flat line is
// not drawn as if it varied.
func MinSpan(a *plot.Axis, span float64) {
	if a.Max-a.Min < span {
		mid := (a.Max + a.Min) / 2
		a.Min, a.Max = mid-span/2, mid+span/2
	}
}

// IntTicks marks the integers in [lo, hi] that are multiples of step (at least 1), or
// about ten of them when step is 0.
func IntTicks(lo, hi, step int) plot.ConstantTicks {
	if step <= 0 {
		step = max(1, (hi-lo+9)/10)
	}
	var t plot.ConstantTicks
	for v := lo; v <= hi; v += step {
		t = append(t, plot.Tick{Value: float64(v), Label: strconv.Itoa(v)})
	}
	return t
}

// IntTicker is plot.DefaultTicks with integer labels, for counts such as batches.
type IntTicker struct{}

func (IntTicker) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', 0, 64)
		}
	}
	return ts
}

// DistinctTicker is plot.DefaultTicks with every label written with the same, fewest
// decimals that show each labelled tick's value exactly: DefaultTicks rounds the labels
// of a narrow range such as [0.965, 1.02] to "1" at three ticks.
type DistinctTicker struct{}

func (DistinctTicker) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	tol := 1e-9 * math.Max(math.Abs(lo), math.Abs(hi))
	digits := 0
	for _, t := range ts {
		if t.Label == "" {
			continue
		}
		for digits < 15 {
			v, _ := strconv.ParseFloat(strconv.FormatFloat(t.Value, 'f', digits, 64), 64)
			if math.Abs(v-t.Value) <= tol {
				break
			}
			digits++
		}
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', digits, 64)
		}
	}
	return ts
}

// LogTicks marks 1, 2 and 5 times the powers of ten on a log axis; plot.LogTicks marks
// only the powers, which leaves a range under a decade with one label or none.
type LogTicks struct{}

func (LogTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 3, 64)})
			}
		}
	}
	return t
}

// SavePNG renders paint onto a w x h canvas and writes it atomically as PNG.
func SavePNG(path string, w, h vg.Length, paint func(dc draw.Canvas)) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
	dc := draw.New(img)
	// An opaque white background: a transparent PNG is unreadable on a dark page.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	paint(dc)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	return WriteFile(path, buf.Bytes())
}

// SavePlot writes one plot, its legend to the right of it.
func SavePlot(path string, p *plot.Plot, w, h vg.Length) error {
	return SaveTiles(path, "", [][]*plot.Plot{{p}}, w, h)
}

// SaveTiles draws a grid of plots (rows of columns; nil leaves a tile empty) aligned on
// one canvas under a title. The first legend found is drawn once, to the right of the
// grid, and the plots' own legends are dropped: every panel of a figure uses the same
// series styles, and a legend inside a panel hides data.
func SaveTiles(path, title string, plots [][]*plot.Plot, w, h vg.Length) error {
	var leg *plot.Legend
	for _, row := range plots {
		for _, p := range row {
			if p == nil {
				continue
			}
			if leg == nil && legendLen(&p.Legend) > 0 {
				l := p.Legend
				leg = &l
			}
			// The plot may be drawn again, in another figure: give its legend back after.
			defer func(p *plot.Plot, l plot.Legend) { p.Legend = l }(p, p.Legend)
			p.Legend = plot.NewLegend()
		}
	}
	return SavePNG(path, w, h, func(dc draw.Canvas) {
		top := vg.Length(0)
		if title != "" {
			top = vg.Points(22)
			sty := plot.New().Title.TextStyle
			sty.Font.Size = vg.Points(13)
			sty.XAlign = draw.XCenter
			sty.YAlign = draw.YTop
			dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - vg.Points(4)}, title)
		}
		area := dc
		if leg != nil {
			leg := *leg
			leg.Top, leg.Left = true, true
			leg.TextStyle.Font.Size = vg.Points(10)
			leg.ThumbnailWidth = vg.Points(22)
			leg.Padding = vg.Points(2)
			r := leg.Rectangle(dc)
			lw := r.Max.X - r.Min.X + vg.Points(12)
			area = draw.Crop(dc, 0, -lw, 0, 0)
			strip := draw.Crop(dc, dc.Max.X-dc.Min.X-lw+vg.Points(6), 0, 0, -(top + vg.Points(24)))
			leg.Draw(strip)
		}
		tiles := draw.Tiles{
			Rows: len(plots), Cols: len(plots[0]),
			PadX: vg.Points(12), PadY: vg.Points(12),
			PadTop: top + vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8),
		}
		canvases := plot.Align(plots, tiles, area)
		for j := range plots {
			for i := range plots[j] {
				if plots[j][i] != nil {
					plots[j][i].Draw(canvases[j][i])
				}
			}
		}
	})
}

// legendLen counts a legend's entries by measuring it: the entries are unexported.
func legendLen(l *plot.Legend) int {
	r := l.Rectangle(draw.Canvas{})
	if r.Max.Y-r.Min.Y <= 0 {
		return 0
	}
	return 1
}

// GridOf lays out plots in rows of cols.
func GridOf(ps []*plot.Plot, cols int) [][]*plot.Plot {
	rows := (len(ps) + cols - 1) / cols
	out := make([][]*plot.Plot, rows)
	for r := range out {
		out[r] = make([]*plot.Plot, cols)
		for c := range cols {
			if i := r*cols + c; i < len(ps) {
				out[r][c] = ps[i]
			}
		}
	}
	return out
}
