package experiments

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
)

// DepthPreset sizes the depth experiment (docs/design.md §11, issue 21).
type DepthPreset struct {
	// The tutorial: jpc's μPC notebook, Hidden = 29 (L = 30 weight layers), Width 128,
	// Steps = L, TutorialIters weight updates, the test accuracy every TestEvery, averaged
	// over TutorialSeeds seeds.
	TutorialHidden, TutorialIters, TutorialSeeds, TestEvery int
	// The sweep: every method at every depth in SweepHidden for SweepIters updates (0: one
	// epoch of the training set), the updates compared with BP's on every CompareEvery-th
	// batch.
	SweepHidden              []int
	SweepIters, CompareEvery int
	Width, Batch             int
	Eta                      float64 // the activity step on the batch mean (jpc's activity_lr)
	LR, LRStandard           float64 // Adam's learning rate for μP-parameterised and standard networks
	TrainN, TestN            int
	// Skips: the long-skip graphs whose wavefront the rule predicts, on MNIST and
	// Fashion-MNIST (when its files are there), over SkipBatches batches.
	SkipGraphs  []skipGraph
	SkipBatches int
}

// skipGraph is a chain of H hidden layers with long skips ("" for none).
type skipGraph struct {
	Hidden int
	Skips  string
}

// jpcCurve is the test accuracy of jpc's μPC notebook (examples/mupc.ipynb, seed 4329) after
// 100, 200, ..., 900 updates, in percent.
var jpcCurve = []float64{85.827324, 88.541664, 90.805290, 91.286057, 91.836937, 92.177483, 92.778442, 92.477966, 93.259216}

// tutorialTolerance is the "within 1.5 points at every 100 iterations".
const tutorialTolerance = 1.5

func fullDepth() DepthPreset {
	return DepthPreset{
		TutorialHidden: 29, TutorialIters: 900, TutorialSeeds: 3, TestEvery: 100,
		SweepHidden: []int{8, 16, 32, 64}, CompareEvery: 50,
		Width: 128, Batch: 64, Eta: 0.5, LR: 0.1, LRStandard: 1e-3,
		SkipGraphs: []skipGraph{
			{9, ""}, {9, "1:5,3:8"}, {9, "1:5,4:9"}, {9, "2:7"}, {9, "1:9"},
			{16, ""}, {16, "1:16"}, {16, "2:6,6:10,10:14"},
		},
		SkipBatches: 4,
	}
}

func quickDepth() DepthPreset {
	p := fullDepth()
	p.TutorialIters, p.TutorialSeeds, p.TestEvery = 100, 1, 50
	p.SweepHidden, p.SweepIters, p.CompareEvery = []int{4, 8}, 60, 20
	p.TestN = 2000
	p.SkipGraphs = []skipGraph{{9, ""}, {9, "1:5,3:8"}, {9, "1:5,4:9"}, {9, "2:7"}}
	p.SkipBatches = 2
	return p
}

func (p *DepthPreset) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("depth: "+format, args...)) }
	for _, h := range append([]int{p.TutorialHidden}, p.SweepHidden...) {
		if h < 2 {
			bad("hidden layers H = %d: must be >= 2 (a residual layer sits between two others)", h)
		}
	}
	switch {
	case p.TutorialIters < 1 || p.TutorialSeeds < 1 || p.TestEvery < 1:
		bad("tutorial iterations %d, seeds %d, test every %d: all must be >= 1", p.TutorialIters, p.TutorialSeeds, p.TestEvery)
	case p.SweepIters < 0 || p.CompareEvery < 0:
		bad("sweep iterations %d, compare every %d: must be >= 0", p.SweepIters, p.CompareEvery)
	case p.Width < 1 || p.Batch < 1 || p.SkipBatches < 1:
		bad("width %d, batch %d, skip batches %d: all must be >= 1", p.Width, p.Batch, p.SkipBatches)
	case !(p.Eta > 0) || !(p.LR > 0) || !(p.LRStandard > 0):
		bad("eta %v, lr %v, standard lr %v: all must be > 0", p.Eta, p.LR, p.LRStandard)
	}
	for _, s := range p.SkipGraphs {
		if _, err := s.graph(8); err != nil {
			errs = append(errs, fmt.Errorf("depth: %w", err))
		}
	}
	return errs
}

// graph builds a skip graph with hidden width n (the input and output widths are
// MNIST's; skips join hidden nodes, whose widths agree).
func (s skipGraph) graph(n int) (*graph.Graph, error) {
	skips, err := graph.ParseSkips(s.Skips)
	if err != nil {
		return nil, err
	}
	widths := []int{mnist.Pixels}
	for range s.Hidden {
		widths = append(widths, n)
	}
	return graph.New(append(widths, mnist.Classes), graph.Chain, skips)
}

func (s skipGraph) label() string {
	if s.Skips == "" {
		return fmt.Sprintf("H=%d chain", s.Hidden)
	}
	return fmt.Sprintf("H=%d skips %s", s.Hidden, s.Skips)
}

// depthCacheVersion changes whenever what a depth point computes changes.
const depthCacheVersion = 1

// depthResults is what the depth experiment measured.
type depthResults struct {
	preset   DepthPreset
	dataset  string
	tutorial []*depthResult // one per seed, μPC at the tutorial's setting
	sweep    map[depthKey]*depthResult
	skips    []*skipRun
}

type depthKey struct {
	method depthMethod
	hidden int
}

// tutorialMean is the mean over seeds of the test accuracy at each measurement, in
// percent, and the iterations it was measured at.
func (d *depthResults) tutorialMean() (iters []int, mean []float64) {
	if len(d.tutorial) == 0 {
		return nil, nil
	}
	for i, p := range d.tutorial[0].Test {
		iters = append(iters, p.Iter)
		var s float64
		for _, r := range d.tutorial {
			if i < len(r.Test) {
				s += float64(r.Test[i].Accuracy)
			} else {
				s = math.NaN()
			}
		}
		mean = append(mean, 100*s/float64(len(d.tutorial)))
	}
	return iters, mean
}

// depthSpecs lists the networks the experiment trains: the tutorial's seeds and the sweep.
func depthSpecs(p DepthPreset, seed uint64, trainN, testN int, dataset string) (tutorial, sweep []depthSpec) {
	base := depthSpec{Version: depthCacheVersion, Dataset: dataset, Width: p.Width, Batch: p.Batch, Eta: p.Eta,
		TrainN: trainN, TestN: testN}
	for i := range p.TutorialSeeds {
		s := base
		s.Method, s.Hidden, s.Steps, s.LR = methodMuPC, p.TutorialHidden, p.TutorialHidden+1, p.LR
		s.Seed, s.Iters, s.TestEvery = seed+uint64(i), p.TutorialIters, p.TestEvery
		tutorial = append(tutorial, s)
	}
	iters := p.SweepIters
	if iters == 0 {
		iters = trainN / p.Batch
	}
	for _, h := range p.SweepHidden {
		for _, m := range depthMethods {
			s := base
			s.Method, s.Hidden, s.Seed, s.Iters = m, h, seed, iters
			s.LR = p.LRStandard
			if m.param() == layer.MuPC {
				s.LR = p.LR
			}
			if m.isPC() {
				s.Steps, s.CompareEvery = h+1, p.CompareEvery
			}
			sweep = append(sweep, s)
		}
	}
	return tutorial, sweep
}

func (s depthSpec) cacheFile() string {
	return fmt.Sprintf("depth_%s_H%02d_seed%d_it%d.json", s.Method, s.Hidden, s.Seed, s.Iters)
}

// cost estimates a network's work for ordering: updates x layers x (steps + 2).
func (s depthSpec) cost() float64 {
	return float64(s.Iters) * float64(s.Hidden+1) * float64(s.Steps+2)
}

func (s depthSpec) label() string {
	return fmt.Sprintf("%s H=%d seed=%d", s.Method, s.Hidden, s.Seed)
}

// runDepth measures the depth experiment: the tutorial and the sweep train on a worker
// pool, each finished network cached in the run's cache folder; the long-skip wavefronts
// are measured again on every run (they take seconds).
func runDepth(ctx context.Context, env *runEnv) (*depthResults, error) {
	data, err := env.data()
	if err != nil {
		return nil, err
	}
	p := env.preset.Depth
	trainSet, testSet := data.Train, data.Test
	if p.TrainN > 0 && p.TrainN < trainSet.Len() {
		trainSet = trainSet.Head(p.TrainN)
	}
	if p.TestN > 0 && p.TestN < testSet.Len() {
		testSet = testSet.Head(p.TestN)
	}
	test := newDepthData(testSet)
	dataset := env.opts.Dataset
	if dataset == "" {
		dataset = mnist.MNIST
	}
	tutorial, sweep := depthSpecs(p, env.opts.Seed, trainSet.Len(), testSet.Len(), dataset)
	out := &depthResults{preset: p, dataset: dataset, tutorial: make([]*depthResult, len(tutorial)), sweep: map[depthKey]*depthResult{}}
	dir := env.cacheDir()
	if err := render.EnsureDir(dir); err != nil {
		return nil, err
	}
	all := slices.Concat(tutorial, sweep)
	results := make([]*depthResult, len(all))
	var todo []int
	for i, s := range all {
		if !env.opts.Fresh {
			r, err := loadCachedJSON(filepath.Join(dir, s.cacheFile()), s, func(r *depthResult) depthSpec { return r.Spec })
			if err != nil {
				return nil, err
			}
			if r != nil {
				results[i] = r
				continue
			}
		}
		todo = append(todo, i)
	}
	// The tutorial first, then the sweep cheapest first (updates x depth x steps): on a
	// shared machine a run that is stopped early has cached the tutorial and the most
	// networks, and a rerun resumes with the deepest.
	order := func(i int) float64 {
		if i < len(tutorial) {
			return -1
		}
		return all[i].cost()
	}
	slices.SortStableFunc(todo, func(a, b int) int { return cmp.Compare(order(a), order(b)) })
	env.log.printf("depth: %d networks, %d cached in %s, %d to train on %d workers (sequential engine)",
		len(all), len(all)-len(todo), dir, len(todo), env.opts.Workers)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(env.opts.Workers)
	var mu sync.Mutex
	done := 0
	for _, i := range todo {
		if gctx.Err() != nil {
			break
		}
		s := all[i]
		g.Go(func() error {
			r, err := trainDepth(gctx, s, trainSet, test, env.opts.Schedule, env.log)
			if err != nil {
				return fmt.Errorf("depth %s: %w", s.label(), err)
			}
			if err := writeJSON(filepath.Join(dir, s.cacheFile()), r); err != nil {
				return err
			}
			mu.Lock()
			results[i] = r
			done++
			n := done
			mu.Unlock()
			env.log.printf("[%*d/%d] depth %-22s test %s after %d updates (%.0fs; elapsed %s)", digits(len(todo)), n, len(todo),
				s.label(), render.Percent(r.last()), s.Iters, r.Seconds, time.Since(start).Round(time.Second))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	copy(out.tutorial, results[:len(tutorial)])
	for _, r := range results[len(tutorial):] {
		out.sweep[depthKey{r.Spec.Method, r.Spec.Hidden}] = r
	}
	if out.skips, err = runSkips(ctx, env); err != nil {
		return nil, err
	}
	return out, nil
}

// depthChecks sets the claims against the measurements.
func depthChecks(d *depthResults) []check {
	p := d.preset
	var cs []check
	iters, mean := d.tutorialMean()
	tut := check{Claim: fmt.Sprintf("jpc's μPC tutorial reproduced: test accuracy within %.1f points of the notebook's at every 100 updates (mean of %s)",
		tutorialTolerance, render.Plural(p.TutorialSeeds, "seed")), OK: len(mean) > 0}
	var worst float64
	var fails []string
	for i, it := range iters {
		k := it/100 - 1
		if it%100 != 0 || k < 0 || k >= len(jpcCurve) {
			continue
		}
		diff := mean[i] - jpcCurve[k]
		worst = math.Max(worst, math.Abs(diff))
		if !(math.Abs(diff) <= tutorialTolerance) {
			tut.OK = false
			fails = append(fails, fmt.Sprintf("%d: %.1f%% against %.1f%%", it, mean[i], jpcCurve[k]))
		}
	}
	tut.Detail = summaryOr(fmt.Sprintf("largest difference %.2f points", worst), fails)
	if d.dataset != "" && d.dataset != mnist.MNIST {
		// The notebook trains on MNIST: on another dataset the comparison is only a contrast.
		tut.Detail = fmt.Sprintf("on %s, against the notebook's MNIST curve: %s", d.dataset, tut.Detail)
	}
	cs = append(cs, tut)

	// The rule by graph distance on the sweep's first batch: never early, and exact
	// where the arriving error is not rounded away.
	bound := check{Claim: "graph-distance rule, bound: no node's error is non-zero before graph.Eta (every PC network of the sweep, first batch)", OK: true}
	var early []string
	for _, r := range d.sweepRuns() {
		for v := 1; v < len(r.FirstNonzero)-1; v++ {
			if f := r.FirstNonzero[v]; f != graph.Never && f < r.Rule[v] {
				bound.OK = false
				early = append(early, fmt.Sprintf("%s node %d at %d < %d", r.Spec.label(), v, f, r.Rule[v]))
			}
		}
	}
	bound.Detail = summaryOr("none early", early)
	cs = append(cs, bound)
	cs = append(cs, skipChecks(d.skips)...)

	// Which layers learn: under standard PC with a small activity step, the deep layers'
	// updates are exactly zero (docs/design.md §11, "What to expect").
	learn := check{Claim: "every weight layer of μPC learns (its update is non-zero on every compared batch of the sweep)", OK: true}
	var zero []string
	for _, h := range p.SweepHidden {
		r := d.sweep[depthKey{methodMuPC, h}]
		if r == nil || r.Compared == 0 {
			continue
		}
		n := 0
		for _, z := range r.Zero {
			if z == r.Compared {
				n++
			}
		}
		if n > 0 {
			learn.OK = false
			zero = append(zero, fmt.Sprintf("H=%d: %d of %d layers always zero", h, n, len(r.Zero)))
		}
	}
	learn.Detail = summaryOr("every layer moved", zero)
	cs = append(cs, learn)
	return cs
}

// sweepRuns are the sweep's PC runs in the order of the preset.
func (d *depthResults) sweepRuns() []*depthResult {
	var out []*depthResult
	for _, h := range d.preset.SweepHidden {
		for _, m := range depthMethods {
			if r := d.sweep[depthKey{m, h}]; r != nil && m.isPC() {
				out = append(out, r)
			}
		}
	}
	return out
}

// depthExperiment is issue 21's depth experiment: jpc's μPC tutorial, the depth sweep
// and the long-skip wavefronts.
type depthExperiment struct{}

func (depthExperiment) name() string { return "depth" }

func (depthExperiment) describe() string {
	return "deep networks (docs/design.md §11): jpc's μPC tutorial, a depth sweep of μPC, PC and BP, long skips against the graph-distance rule"
}

func (depthExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*depthResults]{runDepth, depthChecks, writeDepth, depthSection}.run(ctx, env)
}
