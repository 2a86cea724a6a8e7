package experiments

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"
)

// Replot must draw from the CSV files exactly what the run drew from its results: the
// CSV files hold everything the plots show.
func TestReplotRedrawsWhatTheRunDrew(t *testing.T) {
	dir := t.TempDir()
	p := tinyPreset()
	opts := Options{OutDir: dir, Preset: &p, Seed: 1}
	for _, name := range []string{"cosine", "accuracy", "online"} {
		_, err := run(callCtx(t, runDeadline), name, opts, nil)
		require.NoError(t, err, name)
	}
	pngs, err := filepath.Glob(filepath.Join(dir, "*.png"))
	require.NoError(t, err)
	drawn := map[string][]byte{}
	for _, f := range pngs {
		if filepath.Base(f) == "online_curves.png" {
			continue // along the stream: online.csv holds no curves, Replot leaves it be
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		drawn[filepath.Base(f)] = b
		require.NoError(t, os.Remove(f))
	}
	require.Contains(t, drawn, "cosine_trace.png")
	require.Contains(t, drawn, "accuracy_curves_H2.png")
	require.Contains(t, drawn, "online_prequential.png")

	require.NoError(t, Replot("all", opts))
	for name, want := range drawn {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "%s not redrawn", name)
		require.True(t, string(want) == string(got), "%s redrawn differently from the CSV files", name)
	}
}

func TestReplotSaysWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	p := tinyPreset()
	opts := Options{OutDir: dir, Preset: &p, Seed: 1}
	for _, name := range []string{"cosine", "accuracy"} {
		_, err := run(callCtx(t, runDeadline), name, opts, nil)
		require.NoError(t, err, name)
	}
	path := filepath.Join(dir, "accuracy.csv")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	cols := strings.Split(lines[1], ",")
	cols[5] = "ninety" // test_accuracy
	lines[1] = strings.Join(cols, ",")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))

	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"accuracy", opts, `accuracy.csv: row 2, column test_accuracy: "ninety" is not a number`},
		{"wavefront", opts, "want cosine, accuracy, online or all"},
		{"online", opts, "online.csv"},
		{"accuracy", Options{}, "OutDir is empty"},
	} {
		err := Replot(tc.name, tc.opts)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.NotContains(t, err.Error(), "\n", "one line")
	}
}

// A diverged run's accuracy is not drawn on the line (where it would sit at or below
// chance) but marked in the band below the axis.
func TestOnlineRateMarksSetDivergedRunsApart(t *testing.T) {
	const method = "bp-sgd"
	rates := []float64{0.01, 0.1, 1}
	o := &onlineResults{
		preset: OnlinePreset{Batches: []int{1}, SGDRates: rates, MomentumRates: rates, AdamRates: rates},
		seeds:  []uint64{1, 2},
		runs:   map[onlineSpec]*onlineResult{},
	}
	add := func(lr float64, seed uint64, preq float64, divergedAt int) {
		o.runs[onlineSpec{Method: method, Batch: 1, LR: lr, Seed: seed}] = &onlineResult{Prequential: num(preq), DivergedAt: divergedAt}
	}
	add(0.01, 1, 0.8, 0)
	add(0.01, 2, 0.9, 0)
	add(0.1, 1, 0.6, 0)
	add(0.1, 2, 0.05, 300) // diverged: only the other seed is on the line
	add(1, 1, 0, 10)
	add(1, 2, 0, 12)
	const row = -0.1
	rm := onlineRateMarks(o, methodByName(method), 1, row, func(r *onlineResult) float64 { return float64(r.Prequential) })
	require.Len(t, rm.line, 2)
	require.InDelta(t, 0.85, rm.line[0].Y, 1e-12)
	require.InDelta(t, 0.6, rm.line[1].Y, 1e-12, "the diverged seed is not in the mean")
	require.InDelta(t, 0.05, rm.errs[0].Low, 1e-12)
	require.Equal(t, plotter.XYs{{X: math.Log10(0.1), Y: row}}, rm.some)
	require.Equal(t, plotter.XYs{{X: math.Log10(1), Y: row}}, rm.all)
}
