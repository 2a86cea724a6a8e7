package experiments

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/pcnet"
)

// handGrid is a grid at H = 2 with gammas 0.5 and 1 and T/H 0.5, 1 and 2 (T = 1, 2, 4),
// every point given its test accuracy and its cosines by hand, BP's test accuracy bp.
func handGrid(bp float64, test map[gridKey]float64, cosine map[gridKey][]float64) *gridResults {
	p := QuickPreset()
	p.Hidden, p.Gammas, p.Ratios = []int{2}, []float64{0.5, 1}, []float64{0.5, 1, 2}
	p.BPMaxEpochs = p.Epochs
	g := &gridResults{preset: p, fpa: map[gridKey]*pointResult{}, bp: map[int]*pointResult{2: {Test: num(bp)}}}
	for _, gm := range p.Gammas {
		for _, T := range []int{1, 2, 4} {
			k := gridKey{2, gm, T}
			g.fpa[k] = &pointResult{Spec: pointSpec{Steps: T, CosineEvery: 1}, Test: num(test[k]), Cosine: nums(cosine[k])}
		}
	}
	return g
}

// find returns the check whose claim starts with prefix.
func find(t *testing.T, cs []check, prefix string) check {
	t.Helper()
	for _, c := range cs {
		if strings.HasPrefix(c.Claim, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q", prefix)
	return check{}
}

// TestAccuracyClaimsThresholds pins the accuracy claims' figures by hand: FPA-PC at
// gamma 1, T >= H within 0.005 of BP's test accuracy, and an H judged for drops only
// where BP reaches more than 50%.
func TestAccuracyClaimsThresholds(t *testing.T) {
	grid := func(bp, atH, below float64) []check {
		return accuracyChecks(handGrid(bp, map[gridKey]float64{
			{2, 1, 1}: below, {2, 1, 2}: atH, {2, 1, 4}: atH,
			{2, 0.5, 1}: 0.3, {2, 0.5, 2}: 0.3, {2, 0.5, 4}: 0.3,
		}, nil))
	}
	const same = "gamma = 1, T >= H: FPA-PC reaches BP's test accuracy"
	require.True(t, find(t, grid(0.9, 0.9045, 0.5), same).OK, "0.45 points from BP")
	require.False(t, find(t, grid(0.9, 0.9055, 0.5), same).OK, "0.55 points from BP")
	require.Contains(t, find(t, grid(0.9, 0.9045, 0.5), same).Claim, "(within 0.005)")

	const drops = "gamma = 1: test accuracy drops when T < H"
	require.True(t, find(t, grid(0.9, 0.9, 0.5), drops).OK)
	require.False(t, find(t, grid(0.9, 0.9, 0.95), drops).OK)
	// BP at 49% has not learned: the H is not judged, so a rise below T = H passes.
	notLearned := find(t, grid(0.49, 0.49, 0.95), drops)
	require.True(t, notLearned.OK)
	require.Contains(t, notLearned.Detail, "not judged where BP itself stayed below 50.0%")
	require.False(t, find(t, grid(0.51, 0.51, 0.95), drops).OK, "BP at 51% has learned")
}

// TestCosineClaimsThresholds pins the cosine claims' tolerances by hand: BP's update
// within 1e-9 at every batch, a visible drop of more than 1e-3 below T = H, and a rise
// with T/H that may fall back by at most 5e-3 from one T/H to the next.
func TestCosineClaimsThresholds(t *testing.T) {
	grid := func(exact, drop float64, small [3]float64) []check {
		return cosineChecks(handGrid(0.9, nil, map[gridKey][]float64{
			{2, 1, 1}: {drop, drop}, {2, 1, 2}: {1, exact}, {2, 1, 4}: {exact, 1},
			{2, 0.5, 1}: {small[0]}, {2, 0.5, 2}: {small[1]}, {2, 0.5, 4}: {small[2]},
		}))
	}
	rising := [3]float64{0.9, 0.95, 0.96}
	const exact = "gamma = 1, T >= H: the FPA-PC update is BP's"
	require.True(t, find(t, grid(1-5e-10, 0.99, rising), exact).OK)
	require.False(t, find(t, grid(1-2e-9, 0.99, rising), exact).OK)

	const drop = "gamma = 1, T < H: the cosine is visibly below 1"
	require.True(t, find(t, grid(1, 0.9985, rising), drop).OK, "1.5e-3 below 1")
	require.False(t, find(t, grid(1, 0.9995, rising), drop).OK, "5e-4 below 1")

	const below = "gamma < 1: the cosine stays below 1 at T = H"
	require.True(t, find(t, grid(1, 0.99, rising), below).OK)
	require.False(t, find(t, grid(1, 0.99, [3]float64{0.9, 1 - 5e-10, 1}), below).OK)

	// One batch per point, so the first-epoch mean is the cosine at initialisation: the
	// mean may fall back by 4e-3 but not by 6e-3; at the same weights it may not fall.
	const mean, init = "gamma < 1: the cosine rises with T/H, as the first-epoch mean", "gamma < 1: the cosine rises with T/H, at the same weights"
	require.True(t, find(t, grid(1, 0.99, rising), init).OK)
	require.True(t, find(t, grid(1, 0.99, [3]float64{0.9, 0.95, 0.946}), mean).OK)
	require.False(t, find(t, grid(1, 0.99, [3]float64{0.9, 0.95, 0.946}), init).OK)
	require.False(t, find(t, grid(1, 0.99, [3]float64{0.9, 0.95, 0.944}), mean).OK)
	require.False(t, find(t, grid(1, 0.99, [3]float64{0.9, 0.85, 0.89}), mean).OK, "ends lower than it starts")
}

// TestConvergenceTolerance pins "converged" by hand: a step that moves an error by at
// most 1e-6 of its size no longer counts as moving.
func TestConvergenceTolerance(t *testing.T) {
	steps := func(change float64) []float64 { return []float64{0, 1, change, change} }
	for _, tc := range []struct {
		change    float64
		converged int
	}{{5e-7, 1}, {2e-6, -1}} {
		errs, changes := []float64{0, 1, 1, 1}, steps(tc.change)
		stats := make([]pcnet.StepStats, len(errs))
		for i := range errs {
			stats[i] = pcnet.StepStats{Step: i, ErrorMaxAbs: errs[i], ChangeMaxAbs: changes[i]}
		}
		_, conv := arrival(stats, convergenceTol)
		require.Equal(t, tc.converged, conv, "change %g", tc.change)
	}
}
