package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pcnet/pcnet/pcnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tinyPreset runs every experiment in a second or two.
func tinyPreset() Preset {
	p := QuickPreset()
	p.Name = "tiny"
	p.Hidden = []int{2}
	p.Gammas = []float64{0.5, 1}
	p.Ratios = []float64{0.5, 1, 2}
	p.TrainN, p.ValN, p.TestN = 320, 200, 200
	p.Epochs, p.BPMaxEpochs = 1, 1
	p.EvalsPerEpoch = 2
	p.WavefrontHidden, p.WavefrontHeatHidden = []int{2}, 2
	p.WavefrontStepsPerLayer, p.WavefrontBatches = 3, 1
	p.ComplexityHidden, p.ComplexityProcs = []int{1, 2}, []int{1}
	p.ComplexityRounds, p.ComplexityBudget = 3, 20*time.Millisecond
	p.Online = tinyOnline()
	p.Depth = tinyDepth()
	return p
}

// tinyDepth is a depth preset of a few updates on tiny networks.
func tinyDepth() DepthPreset {
	d := quickDepth()
	d.TutorialHidden, d.TutorialIters, d.TestEvery = 3, 4, 2
	d.SweepHidden, d.SweepIters, d.CompareEvery, d.TestN = []int{2}, 4, 2, 100
	d.SkipGraphs, d.SkipBatches = d.SkipGraphs[:2], 1
	return d
}

// tinyOnline is an online preset of a few hundred images.
func tinyOnline() OnlinePreset {
	o := quickOnline()
	o.StreamN, o.TestN, o.Seeds = 192, 100, 1
	o.Batches = []int{1, 16}
	o.Engines = []pcnet.Engine{pcnet.Sequential, pcnet.Parallel}
	o.SGDRates, o.MomentumRates, o.AdamRates = []float64{0.01, 10}, []float64{0.001, 1}, []float64{0.001, 1}
	o.PCSteps, o.Curve, o.SettleRuns = 10, 4, 10
	return o
}

func TestStepsRoundsDownAndNeverReachesHBelowRatioOne(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		h     int
		want  int
	}{
		{0.25, 2, 1}, {0.5, 2, 1}, {0.75, 2, 1}, {1, 2, 2}, {1.5, 2, 3}, {4, 2, 8},
		{0.25, 4, 1}, {0.75, 4, 3}, {1.5, 4, 6},
		{0.25, 16, 4}, {0.75, 16, 12}, {4, 16, 64},
		{0.1, 2, 1}, // never 0
	} {
		require.Equal(t, tc.want, Steps(tc.ratio, tc.h), "T/H = %v, H = %d", tc.ratio, tc.h)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h := 1 + rng.IntN(40)
		r := rng.Float64() * 4
		T := Steps(r, h)
		require.GreaterOrEqual(t, T, 1)
		if r < 1 && h > 1 {
			require.Less(t, T, h, "T/H = %v, H = %d", r, h)
		}
	}
}

func TestStepGroupsDrawEachStepCountOnce(t *testing.T) {
	ratios := []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 4}
	for _, tc := range []struct {
		h      int
		steps  []int
		at     []float64
		labels []string
	}{
		{2, []int{1, 2, 3, 4, 8}, []float64{0.5, 1, 1.5, 2, 4}, []string{"T/H = 0.25, 0.5, 0.75 (T=1)", "T/H = 1 (T=2)", "T/H = 1.5 (T=3)", "T/H = 2 (T=4)", "T/H = 4 (T=8)"}},
		{4, []int{1, 2, 3, 4, 6, 8, 16}, ratios, nil},
		{1, []int{1, 2, 4}, []float64{1, 2, 4}, []string{"T/H = 0.25, 0.5, 0.75, 1, 1.5 (T=1)", "T/H = 2 (T=2)", "T/H = 4 (T=4)"}},
	} {
		var steps []int
		var at []float64
		var labels []string
		for _, g := range stepGroups(ratios, tc.h) {
			steps, at, labels = append(steps, g.steps), append(at, g.at(tc.h)), append(labels, g.label())
			for _, r := range g.ratios {
				require.Equal(t, g.steps, Steps(r, tc.h), "H = %d: ratio %g in the group of T = %d", tc.h, r, g.steps)
			}
		}
		require.Equal(t, tc.steps, steps, "H = %d", tc.h)
		require.Equal(t, tc.at, at, "H = %d", tc.h)
		if tc.labels != nil {
			require.Equal(t, tc.labels, labels, "H = %d", tc.h)
		}
	}
}

func TestArrivalFindsFirstNonZeroAndConvergence(t *testing.T) {
	steps := func(errs, changes []float64) []pcnet.StepStats {
		out := make([]pcnet.StepStats, len(errs))
		for i := range errs {
			out[i] = pcnet.StepStats{Step: i, ErrorMaxAbs: errs[i], ChangeMaxAbs: changes[i]}
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		errs, changes   []float64
		first, converge int
	}{
		{"arrives at 2, still at 3", []float64{0, 0, 1, 1, 1}, []float64{0, 0, 1, 0, 0}, 2, 2},
		{"never arrives", []float64{0, 0, 0}, []float64{0, 0, 0}, -1, -1},
		{"moves at the last step", []float64{0, 1, 2}, []float64{0, 1, 1}, 1, -1},
		{"moves within tolerance", []float64{0, 1, 1, 1}, []float64{0, 1, 1e-3, 1e-9}, 1, 2},
		{"arrives at the last step", []float64{0, 0, 1}, []float64{0, 0, 1}, 2, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, conv := arrival(steps(tc.errs, tc.changes), 1e-6)
			require.Equal(t, tc.first, first)
			require.Equal(t, tc.converge, conv)
		})
	}
}

func TestNumSurvivesJSONWithNaN(t *testing.T) {
	in := []num{1.5, num(math.NaN()), num(math.Inf(1)), -2e-300}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.Equal(t, "[1.5,null,null,-2e-300]", string(b))
	var out []num
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, num(1.5), out[0])
	require.True(t, math.IsNaN(float64(out[1])))
	require.True(t, math.IsNaN(float64(out[2])))
	require.Equal(t, num(-2e-300), out[3])
}

func TestLoadCachedIgnoresOtherSettings(t *testing.T) {
	dir := t.TempDir()
	spec := pointSpec{Version: cacheVersion, Algo: algoFPA, Hidden: 2, Gamma: 0.5, Steps: 2, LR: 0.01, Seed: 3}
	path := filepath.Join(dir, spec.cacheFile())
	r, err := loadCached(path, spec)
	require.NoError(t, err)
	require.Nil(t, r, "no file")

	require.NoError(t, writeJSON(path, &pointResult{Spec: spec, Test: 0.5, Cosine: []num{1, num(math.NaN())}}))
	r, err = loadCached(path, spec)
	require.NoError(t, err)
	require.NotNil(t, r)
	require.Equal(t, num(0.5), r.Test)

	other := spec
	other.LR = 0.02
	r, err = loadCached(path, other)
	require.NoError(t, err)
	require.Nil(t, r, "a point made with another learning rate must be retrained")

	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o644))
	r, err = loadCached(path, spec)
	require.NoError(t, err)
	require.Nil(t, r, "a damaged cache entry is retrained, not an error")
}

func TestRunSaysWhatIsWrong(t *testing.T) {
	ctx := callCtx(t, runDeadline)
	err := Run(ctx, "cosin", Options{OutDir: t.TempDir()}, nil)
	require.ErrorContains(t, err, `unknown experiment "cosin"`)
	require.ErrorContains(t, err, "cosine, accuracy, wavefront, complexity, online, depth, all")

	err = Run(ctx, "cosine", Options{}, nil)
	require.ErrorContains(t, err, "OutDir")

	p := tinyPreset()
	p.Gammas = []float64{0.5, 1.5}
	p.Epochs = 0
	p.Momentum = 1
	err = Run(ctx, "cosine", Options{OutDir: t.TempDir(), Preset: &p}, nil)
	require.ErrorContains(t, err, "gamma = 1.5")
	require.ErrorContains(t, err, "epochs = 0")
	require.ErrorContains(t, err, "momentum = 1: must be in [0, 1)", "optim checks the preset's optimiser")

	err = Run(ctx, "cosine", Options{OutDir: t.TempDir(), Dataset: "cifar"}, nil)
	require.EqualError(t, err, `experiments: unknown dataset "cifar" (want mnist or fashion)`)
	p = tinyPreset()
	missing := filepath.Join(t.TempDir(), "none")
	err = Run(ctx, "cosine", Options{OutDir: t.TempDir(), Preset: &p, Dataset: "fashion", DataDir: missing}, nil)
	require.ErrorContains(t, err, "Fashion-MNIST: mnist: ")
	require.ErrorContains(t, err, missing)
}

// Fashion-MNIST's grid points are cached apart from MNIST's, whose folder keeps its name.
func TestCacheDirPerDataset(t *testing.T) {
	for _, tt := range []struct{ dataset, want string }{
		{"", "quick-seed3"}, {"mnist", "quick-seed3"}, {"fashion", "quick-fashion-seed3"},
	} {
		env := &runEnv{opts: Options{OutDir: "out", Seed: 3, Dataset: tt.dataset}, preset: Preset{Name: "quick"}}
		require.Equal(t, filepath.Join("out", "cache", tt.want), env.cacheDir(), "dataset %q", tt.dataset)
	}
}

// TestGridResumesFromCacheAndIgnoresWorkerCount trains a tiny grid with one worker,
// then runs it again with two: every point comes from the cache, bit for bit the same,
// and the outputs are written again.
func TestGridResumesFromCacheAndIgnoresWorkerCount(t *testing.T) {
	dir := t.TempDir()
	p := tinyPreset()
	var log1 bytes.Buffer
	res1, err := run(callCtx(t, runDeadline), "cosine", Options{OutDir: dir, Preset: &p, Seed: 5, Workers: 1}, &log1)
	require.NoError(t, err)
	require.Contains(t, log1.String(), "0 cached")
	// H = 2 at T/H = 0.5 and 1 ... : T = 1, 2, 4 for two gammas, and BP.
	require.Len(t, res1.grid().fpa, 6)
	require.Len(t, res1.grid().bp, 1)

	require.NoError(t, os.Remove(filepath.Join(dir, "cosine.csv")))
	var log2 bytes.Buffer
	res2, err := run(callCtx(t, runDeadline), "cosine", Options{OutDir: dir, Preset: &p, Seed: 5, Workers: 2}, &log2)
	require.NoError(t, err)
	require.Contains(t, log2.String(), "7 cached")
	require.FileExists(t, filepath.Join(dir, "cosine.csv"))
	for k, r := range res1.grid().fpa {
		require.Equal(t, asJSON(t, r), asJSON(t, res2.grid().fpa[k]), "H=%d gamma=%g T=%d", k.hidden, k.gamma, k.steps)
	}

	// Retraining with Fresh and two workers gives the same numbers as one worker did.
	res3, err := run(callCtx(t, runDeadline), "cosine", Options{OutDir: dir, Preset: &p, Seed: 5, Workers: 2, Fresh: true}, nil)
	require.NoError(t, err)
	for k, r := range res1.grid().fpa {
		require.Equal(t, asJSON(t, r), asJSON(t, res3.grid().fpa[k]), "H=%d gamma=%g T=%d", k.hidden, k.gamma, k.steps)
	}
}

// asJSON is a result as cached, without its wall time: NaN compares equal there.
func asJSON(t *testing.T, r *pointResult) string {
	c := *r
	c.Seconds = 0
	b, err := json.Marshal(&c)
	require.NoError(t, err)
	return string(b)
}

func TestCancelledRunStopsAndKeepsWhatFinished(t *testing.T) {
	ctx, cancel := context.WithCancel(callCtx(t, runDeadline))
	cancel()
	p := tinyPreset()
	_, err := run(ctx, "accuracy", Options{OutDir: t.TempDir(), Preset: &p}, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestSummariesNameTheClaims(t *testing.T) {
	dir := t.TempDir()
	p := tinyPreset()
	_, err := run(callCtx(t, runDeadline), "all", Options{OutDir: dir, Preset: &p}, nil)
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	for _, want := range []string{"Theorem 1", "Result 3", "cosine 1", "[wavefront](wavefront.md)", "[online](online.md)", "§3.6", "[depth](depth.md)"} {
		require.Contains(t, string(readme), want)
	}
	for _, f := range []string{"cosine.md", "accuracy.md", "wavefront.md", "complexity.md", "online.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, strings.Contains(string(b), "**The paper**"), "%s has no claim", f)
	}
}

// The measurements of each experiment of a run, by type.
func (r *results) grid() *gridResults { g, _ := r.measured["cosine"].(*gridResults); return g }
func (r *results) wavefront() *wavefrontResults {
	w, _ := r.measured["wavefront"].(*wavefrontResults)
	return w
}
func (r *results) complexity() *complexityResults {
	c, _ := r.measured["complexity"].(*complexityResults)
	return c
}
func (r *results) depth() *depthResults { d, _ := r.measured["depth"].(*depthResults); return d }

func (r *results) online() *onlineResults { o, _ := r.measured["online"].(*onlineResults); return o }
