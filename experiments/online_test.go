package experiments

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLossWindowDivergesOnNonFiniteOrPersistentlyHighLoss(t *testing.T) {
	for _, tc := range []struct {
		name    string
		losses  []float64
		batch   int
		diverge int // index of the batch at which it diverges, -1: never
	}{
		{"NaN at once", []float64{math.NaN()}, 1, 0},
		{"infinite", []float64{1, math.Inf(1)}, 64, 1},
		{"one spike is not enough", append([]float64{100}, repeat(0.5, 2*divergeWindow)...), 1, -1},
		{"high for a window", repeat(7.5, divergeWindow+10), 1, divergeWindow - 1},
		{"just below the threshold", repeat(divergeLoss-1e-9, 2*divergeWindow), 1, -1},
		{"batches of 64: judged once 500 images are in", repeat(8, 20), 64, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w lossWindow
			got := -1
			for i, l := range tc.losses {
				if w.add(l, tc.batch) != "" {
					got = i
					break
				}
			}
			require.Equal(t, tc.diverge, got)
		})
	}
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestArgmaxPredictsNothingFromNaN(t *testing.T) {
	require.Equal(t, 2, argmax([]float64{0, 1, 3, -1}))
	require.Equal(t, 0, argmax([]float64{5, 5}))
	require.Equal(t, -1, argmax([]float64{0, math.NaN(), 3}))
}

// TestOnlineResumesFromCache runs the tiny online grid, then again: every run comes
// from the cache and the outputs are the same; the control equals BP bit for bit.
func TestOnlineResumesFromCache(t *testing.T) {
	dir := t.TempDir()
	p := tinyPreset()
	var log1 bytes.Buffer
	res1, err := run(context.Background(), "online", Options{OutDir: dir, Preset: &p, Seed: 3}, &log1)
	require.NoError(t, err)
	require.Contains(t, log1.String(), "32 runs, 0 cached")
	csv1, err := os.ReadFile(filepath.Join(dir, "online.csv"))
	require.NoError(t, err)

	var log2 bytes.Buffer
	res2, err := run(context.Background(), "online", Options{OutDir: dir, Preset: &p, Seed: 3}, &log2)
	require.NoError(t, err)
	require.Contains(t, log2.String(), "32 runs, 32 cached")
	require.Equal(t, len(res1.online().runs), len(res2.online().runs))
	csv2, err := os.ReadFile(filepath.Join(dir, "online.csv"))
	require.NoError(t, err)
	// The seconds column differs only if a run was redone.
	require.Equal(t, string(csv1), string(csv2))
	for _, c := range res2.checks {
		if c.Claim[:8] == "control:" {
			require.True(t, c.OK, c.Detail)
		}
	}
}
