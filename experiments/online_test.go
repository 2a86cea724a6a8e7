package experiments

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		// The criterion by hand: a mean loss above 3 ln 10 = 6.9078 over the last 500
		// images (at least one batch), never compared with the package's own constants.
		{"one spike is not enough", append([]float64{100}, slices.Repeat([]float64{0.5}, 1000)...), 1, -1},
		{"high for a window", slices.Repeat([]float64{7.5}, 510), 1, 499},
		{"not judged before 500 images", slices.Repeat([]float64{7.5}, 499), 1, -1},
		{"just below 3 ln 10", slices.Repeat([]float64{6.907}, 1000), 1, -1},
		{"just above 3 ln 10", slices.Repeat([]float64{6.909}, 1000), 1, 499},
		// 500 images of loss 0, then loss 14: the window's mean 14k/500 passes 6.9078
		// at k = 247 images of the new loss (6.916; 246 give 6.888).
		{"the window slides", append(slices.Repeat([]float64{0}, 500), slices.Repeat([]float64{14}, 300)...), 1, 500 + 247 - 1},
		{"batches of 64: judged once 500 images are in", slices.Repeat([]float64{8}, 20), 64, 7},
		{"batches of 64 just below 3 ln 10", slices.Repeat([]float64{6.907}, 20), 64, -1},
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

func TestLossWindowSaysWhy(t *testing.T) {
	var w lossWindow
	for range 499 {
		require.Empty(t, w.add(7, 1))
	}
	require.Equal(t, "mean loss 7 over the last 500 images", w.add(7, 1))
	require.Equal(t, "loss NaN", (&lossWindow{}).add(math.NaN(), 64))
	require.Equal(t, "loss +Inf", (&lossWindow{}).add(math.Inf(1), 1))
}

// TestPrequentialDefinitions pins the figures online.md reports by hand-computed cases:
// prequential accuracy is the share of the whole stream predicted right before learning
// from it, the last tenth the same over the stream's last tenth of images, the curve
// the same over equal parts; images after a divergence count as wrong.
func TestPrequentialDefinitions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, parts  int
		right     []int // the images predicted right
		scored    int   // images scored before the run stopped
		all, last float64
		curve     []float64
	}{
		{"20 images in 4 parts", 20, 4, []int{0, 1, 2, 5, 15, 19}, 20, 6.0 / 20, 1.0 / 2, []float64{3.0 / 5, 1.0 / 5, 0, 2.0 / 5}},
		{"diverged after 10 of 20, 3 uneven parts", 20, 3, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, 10.0 / 20, 0, []float64{7.0 / 7, 3.0 / 7, 0}},
		{"the last tenth of 10 is image 9", 10, 1, []int{9}, 10, 1.0 / 10, 1, []float64{1.0 / 10}},
		{"the last tenth of 25 is images 23 and 24", 25, 5, []int{22, 23}, 25, 2.0 / 25, 1.0 / 2, []float64{0, 0, 0, 0, 2.0 / 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPrequential(tc.n, tc.parts)
			for i := range tc.scored {
				p.add(slices.Contains(tc.right, i))
			}
			all, last, curve := p.result()
			require.InDelta(t, tc.all, float64(all), 1e-15)
			require.InDelta(t, tc.last, float64(last), 1e-15)
			require.Len(t, curve, len(tc.curve))
			for k := range curve {
				require.InDelta(t, tc.curve[k], float64(curve[k]), 1e-15, "part %d", k)
			}
		})
	}
}

func TestSettleSummary(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	largest, median, p90 := settleSummary(ten)
	require.Equal(t, []num{10, 6, 10}, []num{largest, median, p90})
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(i + 1)
	}
	largest, median, p90 = settleSummary(twenty)
	require.Equal(t, []num{20, 11, 19}, []num{largest, median, p90})
	largest, median, p90 = settleSummary(nil)
	require.True(t, math.IsNaN(float64(largest)) && math.IsNaN(float64(median)) && math.IsNaN(float64(p90)))
}

// handResults is an online grid of one method at batch 1 with the given rates, mean
// prequential accuracies over two seeds (half a point apart) and seeds diverged.
func handResults(method string, rates, preq []float64, diverged []int) *onlineResults {
	o := &onlineResults{
		preset: OnlinePreset{Batches: []int{1}, SGDRates: rates, AdamRates: rates, MomentumRates: rates, PCSteps: 30, PCGamma: 0.2},
		seeds:  []uint64{1, 2},
		runs:   map[onlineSpec]*onlineResult{},
	}
	for i, lr := range rates {
		for k, seed := range o.seeds {
			s := onlineSpec{Method: method, LR: lr, Seed: seed, Batch: 1}
			r := &onlineResult{Spec: s, Prequential: num(preq[i] - 0.0025 + 0.005*float64(k)), Test: num(preq[i]), SettleMedian: num(math.NaN())}
			if k < diverged[i] {
				r.DivergedAt = 100 * (i + 1)
			}
			o.runs[s] = r
		}
	}
	return o
}

// TestOnlineSummaryDefinitions pins the usable range (within 5 points of the best mean
// prequential accuracy, no seed diverged), "still learns" (at least 50%, no seed
// diverged), the decades and the headroom by hand.
func TestOnlineSummaryDefinitions(t *testing.T) {
	rates := []float64{0.001, 0.01, 0.1, 1, 10, 100}
	// Best 0.84 at 0.1; 0.7925 (4.75 points below) and 0.795 are usable, 0.785 is not;
	// 0.55 still learns, 0.48 does not.
	o := handResults("bp-sgd", rates, []float64{0.785, 0.7925, 0.84, 0.795, 0.55, 0.48}, []int{0, 0, 0, 0, 0, 1})
	s := o.summary("bp-sgd", 1)
	require.Equal(t, 0.1, s.best.lr)
	require.InDelta(t, 0.84, s.best.preq.mean, 1e-12)
	require.InDelta(t, 0.8375, s.best.preq.lo, 1e-12)
	require.InDelta(t, 0.8425, s.best.preq.hi, 1e-12)
	require.Equal(t, []float64{0.01, 1}, []float64{s.usableLo, s.usableHi})
	require.Equal(t, 10.0, s.learnsHi)
	require.InDelta(t, 2, s.decades(), 1e-12)
	require.InDelta(t, 2, s.headroom(), 1e-12)
	require.Equal(t, 100.0, s.firstDiverged)
	require.True(t, s.lowStable)
	pts := o.points("bp-sgd", 1)
	require.Equal(t, 1, pts[5].diverged)
	require.Equal(t, 600, pts[5].firstDiverged)

	// A divergence makes a rate neither usable nor learning, whatever its accuracy.
	o = handResults("bp-sgd", rates, []float64{0.785, 0.7925, 0.84, 0.795, 0.55, 0.48}, []int{1, 0, 0, 0, 1, 2})
	s = o.summary("bp-sgd", 1)
	require.Equal(t, []float64{0.01, 1}, []float64{s.usableLo, s.usableHi})
	require.Equal(t, 1.0, s.learnsHi)
	require.Equal(t, 0.001, s.firstDiverged)
	require.False(t, s.lowStable)
}

// TestSettleCheckThreshold pins "near equilibrium": the median relative change of a
// hidden error at the last step below 0.02 in every run at a usable rate.
func TestSettleCheckThreshold(t *testing.T) {
	settle := func(median float64) check {
		o := handResults("pc-sgd", []float64{0.01, 0.1}, []float64{0.8, 0.8}, []int{0, 0})
		for _, r := range o.runs {
			r.SettleMedian, r.SettleP90 = num(median), num(median)
		}
		for _, c := range onlineChecks(o) {
			if strings.HasPrefix(c.Claim, "standard PC") {
				return c
			}
		}
		t.Fatal("no settle check")
		return check{}
	}
	require.True(t, settle(0.0199).OK)
	require.False(t, settle(0.0201).OK)
	require.Contains(t, settle(0.0199).Claim, "below 0.02 in every run")
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
	res1, err := run(callCtx(t, runDeadline), "online", Options{OutDir: dir, Preset: &p, Seed: 3}, &log1)
	require.NoError(t, err)
	require.Contains(t, log1.String(), "32 runs, 0 cached")
	csv1, err := os.ReadFile(filepath.Join(dir, "online.csv"))
	require.NoError(t, err)

	var log2 bytes.Buffer
	res2, err := run(callCtx(t, runDeadline), "online", Options{OutDir: dir, Preset: &p, Seed: 3}, &log2)
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
