package render

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
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
