package render

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type level float64

func TestCellFormatsEveryKindOfValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{math.NaN(), ""},
		{math.Inf(-1), "-Inf"},
		{level(2.5), "2.5"},
		{level(math.NaN()), ""},
		{true, "true"},
		{42, "42"},
		{"fpa", "fpa"},
		{time.Second, "1s"},
	} {
		require.Equal(t, tc.want, Cell(tc.in), "%#v", tc.in)
	}
}

func TestTableWritesCSVAndRefusesARowOfTheWrongWidth(t *testing.T) {
	tab := NewTable("hidden", "name, quoted", "value")
	tab.Add(2, "a,b", 0.5)
	tab.Add(4, "c", math.NaN())
	b, err := tab.CSV()
	require.NoError(t, err)
	require.Equal(t, "hidden,\"name, quoted\",value\n2,\"a,b\",0.5\n4,c,\n", string(b))

	path := filepath.Join(t.TempDir(), "t.csv")
	require.NoError(t, tab.WriteFile(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, got)

	tab.Add(1, 2)
	_, err = tab.CSV()
	require.EqualError(t, err, "table row 3 has 2 cells for 3 columns [hidden name, quoted value]")
	require.ErrorContains(t, tab.WriteFile(path), "encode "+path)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, got, "a failed write leaves the previous file")
}

func TestMarkdownWritesParagraphsTablesAndImages(t *testing.T) {
	var md Markdown
	md.P("# %s", "title")
	md.Table([]string{"H", "time"}, [][]string{{"2", "1.0 µs"}, {"4", "–"}})
	md.Image("alt text", "plot.png")
	require.Equal(t, "# title\n\n| H | time |\n|---|---|\n| 2 | 1.0 µs |\n| 4 | – |\n\n![alt text](plot.png)\n\n", md.String())
}

func TestNumberFormats(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		got, want string
	}{
		{Fixed(0.98765, 3), "0.988"},
		{Fixed(1, 4), "1.0000"},
		{Fixed(nan, 3), "–"},
		{Percent(0.9712), "97.1%"},
		{Percent(1), "100.0%"},
		{Percent(nan), "–"},
		{SignedPercent(1.234), "+1.2%"},
		{SignedPercent(-0.05), "-0.1%"},
		{SignedPercent(nan), "–"},
		{Sig(1234.5), "1.23e+03"},
		{Sig(0.012345), "0.0123"},
		{Sig(nan), "–"},
		{Ratio(3, 2), "1.50"},
		{Ratio(1, 0), "–"},
		{Ratio(nan, 1), "–"},
		{Nanos(850), "850 ns"},
		{Nanos(4240), "4.2 µs"},
		{Nanos(310e3), "310 µs"},
		{Nanos(1.254e6), "1.25 ms"},
		{Nanos(42.4e6), "42 ms"},
		{Nanos(nan), "–"},
		{Duration(1250 * time.Millisecond), "1.25s"},
		{Duration(3400 * time.Microsecond), "3.40ms"},
		{Duration(870 * time.Microsecond), "870µs"},
		{Ints([]int{1, 2, 4}), "1 2 4"},
		{Ints(nil), ""},
		{Plural(1, "epoch"), "1 epoch"},
		{Plural(0, "epoch"), "0 epochs"},
		{Plural(20, "epoch"), "20 epochs"},
	} {
		require.Equal(t, tc.want, tc.got)
	}
}

func TestMedian(t *testing.T) {
	v := []float64{5, 1, 3}
	require.Equal(t, 3.0, Median(v))
	require.Equal(t, []float64{5, 1, 3}, v, "the input is not sorted in place")
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	require.True(t, math.IsNaN(Median(nil)))
}
