package render

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func TestGridOfLaysOutRowsAndLeavesTheRestEmpty(t *testing.T) {
	ps := make([]*plot.Plot, 5)
	for i := range ps {
		ps[i] = NewPlot("", "", "")
	}
	g := GridOf(ps, 2)
	require.Len(t, g, 3)
	require.Same(t, ps[2], g[1][0])
	require.Same(t, ps[4], g[2][0])
	require.Nil(t, g[2][1])
}

func TestSaveTilesWritesAnOpaquePNGAndGivesTheLegendsBack(t *testing.T) {
	p := NewPlot("title", "x", "y")
	require.NoError(t, Series{Name: "line", XS: []float64{0, 1, 2}, YS: []float64{1, math.NaN(), 3}, Color: SeriesColor(0), Points: true}.Add(p))
	require.NoError(t, HLine(p, "bound", 2, 0, 2, Black))
	path := filepath.Join(t.TempDir(), "p.png")
	require.NoError(t, SaveTiles(path, "figure", [][]*plot.Plot{{p, nil}}, 4*vg.Inch, 2*vg.Inch))
	require.Equal(t, 1, legendLen(&p.Legend), "the plot keeps its legend for another figure")

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 440, img.Bounds().Dx(), "4 inches at 110 dpi")
	require.Equal(t, color.RGBAModel.Convert(color.White), color.RGBAModel.Convert(img.At(0, 0)))
}

func TestTicks(t *testing.T) {
	require.Equal(t, plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 4, Label: "4"}, {Value: 8, Label: "8"}}, IntTicks(0, 8, 4))
	require.Len(t, IntTicks(1, 20, 0), 10, "about ten when no step is given")
	var labels []string
	for _, tk := range (LogTicks{}).Ticks(0.3, 30) {
		labels = append(labels, tk.Label)
	}
	require.Equal(t, []string{"0.5", "1", "2", "5", "10", "20"}, labels)

	var a plot.Axis
	Log2Axis(&a, []float64{0.25, 1, 4})
	require.InDelta(t, -2.2, a.Min, 1e-12)
	require.InDelta(t, 2.2, a.Max, 1e-12)
	require.Equal(t, []float64{-2, 0, 2}, Log2s([]float64{0.25, 1, 4}))
}

func TestDistinctTickerLabelsEveryTickExactlyAndOnce(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string // the labelled ticks, in order; nil: only that they are distinct
	}{
		{0.965, 1.02, []string{"0.97", "0.98", "0.99", "1.00", "1.01", "1.02"}}, // DefaultTicks: 0.97 0.98 0.99 1 1 1
		{0.97, 1.02, []string{"0.98", "1.00", "1.02"}},                          // DefaultTicks: 0.98 1 1
		{0, 1, []string{"0.0", "0.5", "1.0"}},
		{0, 800, nil},
		{0.9995, 1.0001, nil},
		{0.23, 1.023, []string{"0.25", "0.50", "0.75", "1.00"}}, // not 0.2 0.5 0.8 1.0: distinct but wrong
	} {
		var labels []string
		for _, tk := range (DistinctTicker{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		require.GreaterOrEqual(t, len(labels), 2, "[%g, %g]", tc.lo, tc.hi)
		seen := map[string]bool{}
		for _, l := range labels {
			require.False(t, seen[l], "[%g, %g]: %q twice in %q", tc.lo, tc.hi, l, labels)
			seen[l] = true
		}
		for _, tk := range (DistinctTicker{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				v, err := strconv.ParseFloat(tk.Label, 64)
				require.NoError(t, err)
				require.InDelta(t, tk.Value, v, 1e-9, "[%g, %g]: label %q", tc.lo, tc.hi, tk.Label)
			}
		}
		if tc.want != nil {
			require.Equal(t, tc.want, labels)
		}
	}
}
