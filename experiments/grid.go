package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
)

// Steps returns the number of inference steps T of a grid point with T/H = ratio in a
// network of h hidden layers: floor(ratio·h), and at least 1.
//
// Rounding down keeps T < H whenever ratio < 1, so a point plotted left of T/H = 1 never
// runs the H steps that Theorem 1 says the lowest layer needs (rounding to nearest would
// turn H = 2, T/H = 0.75 into T = 2 = H). The floor of 1 avoids T = 0, at which only
// the top weight layer would learn. For H = 2 the ratios 0.25, 0.5 and 0.75 all give
// T = 1; they are trained once and plotted at their nominal ratios.
func Steps(ratio float64, h int) int {
	// The small epsilon keeps 0.75·4 = 3 from becoming 2 through rounding of the product.
	return max(1, int(math.Floor(ratio*float64(h)+1e-9)))
}

// stepGroup is the ratios of a grid that give one number of steps at one depth.
type stepGroup struct {
	steps  int
	ratios []float64 // increasing
}

// at is the group's true T/H, where a plot draws it.
func (g stepGroup) at(h int) float64 { return float64(g.steps) / float64(h) }

// label names the group in a legend: "T/H = 0.25, 0.5, 0.75 (T=1)".
func (g stepGroup) label() string {
	rs := make([]string, len(g.ratios))
	for i, r := range g.ratios {
		rs[i] = strconv.FormatFloat(r, 'g', -1, 64)
	}
	return fmt.Sprintf("T/H = %s (T=%d)", strings.Join(rs, ", "), g.steps)
}

// stepGroups groups increasing ratios by the steps T they give at depth h. At a small H
// several ratios floor to the same T (at H = 2, 0.25, 0.5 and 0.75 all give T = 1) and
// so train the same network; a plot draws each T once, at its true T/H, rather than the
// same point three times at three positions.
func stepGroups(ratios []float64, h int) []stepGroup {
	var out []stepGroup
	for _, r := range ratios {
		T := Steps(r, h)
		if n := len(out); n > 0 && out[n-1].steps == T {
			out[n-1].ratios = append(out[n-1].ratios, r)
			continue
		}
		out = append(out, stepGroup{steps: T, ratios: []float64{r}})
	}
	return out
}

// cacheVersion changes whenever what a grid point computes changes, so that stale cached
// points are retrained rather than mixed with new ones.
const cacheVersion = 1

const (
	algoFPA = "fpa" // spec.FPA.String()
	algoBP  = "bp"  // spec.BP.String()
)

// pointSpec is everything the result of one trained network depends on.
type pointSpec struct {
	Version       int     `json:"version"`
	Algo          string  `json:"algo"` // algoFPA or algoBP
	Hidden        int     `json:"hidden"`
	Gamma         float64 `json:"gamma"` // FPA only
	Steps         int     `json:"steps"` // FPA only
	Width         int     `json:"width"`
	Batch         int     `json:"batch"`
	LR            float64 `json:"lr"`
	Momentum      float64 `json:"momentum"`
	Seed          uint64  `json:"seed"`
	Epochs        int     `json:"epochs"`
	CosineEvery   int     `json:"cosine_every"`
	EvalsPerEpoch int     `json:"evals_per_epoch"`
	TrainN        int     `json:"train_n"`
	ValN          int     `json:"val_n"`
	TestN         int     `json:"test_n"`
	BPTarget      float64 `json:"bp_target"`     // BP only
	BPMaxEpochs   int     `json:"bp_max_epochs"` // BP only
}

// evalPoint is one validation pass.
type evalPoint struct {
	Epoch    float64 `json:"epoch"` // epochs of training done, fractional within an epoch
	Accuracy num     `json:"accuracy"`
	Loss     num     `json:"loss"`
}

// pointResult is what one trained network measured; it is cached as JSON.
type pointResult struct {
	Spec pointSpec `json:"spec"`
	// Cosine holds the cosine between the FPA-PC update and BP's over all layers, for
	// every compared batch of the first epoch; LayerCosine the mean per weight layer over
	// the batches where that layer's update was not zero (NaN when it was always zero).
	Cosine      []num `json:"cosine,omitempty"`
	LayerCosine []num `json:"layer_cosine,omitempty"`
	// ZeroLayers counts the weight layers whose update was exactly zero on the first
	// compared batch: Theorem 1's unreached layers.
	ZeroLayers int         `json:"zero_layers"`
	Val        []evalPoint `json:"validation"`
	TrainLoss  []num       `json:"train_loss"` // per epoch
	// Test is the test accuracy after Spec.Epochs epochs.
	Test     num `json:"test"`
	TestLoss num `json:"test_loss"`
	// Diverged is the error that stopped a diverged run ("" if none).
	Diverged string `json:"diverged,omitempty"`
	// BP only: the first epoch whose validation accuracy reached BPTarget (0 if none), the
	// epochs trained, and the accuracies when training stopped.
	TargetEpoch int     `json:"target_epoch,omitempty"`
	FinalEpochs int     `json:"final_epochs,omitempty"`
	FinalVal    num     `json:"final_val,omitempty"`
	FinalTest   num     `json:"final_test,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// valAt returns the validation accuracy after the given number of whole epochs.
func (r *pointResult) valAt(epochs int) float64 {
	for _, v := range r.Val {
		if v.Epoch == float64(epochs) {
			return float64(v.Accuracy)
		}
	}
	return math.NaN()
}

// cosineStats are the mean, minimum and maximum of the first epoch's cosines.
func (r *pointResult) cosineStats() (mean, lo, hi float64) {
	if len(r.Cosine) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, c := range r.Cosine {
		v := float64(c)
		mean += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return mean / float64(len(r.Cosine)), lo, hi
}

type gridKey struct {
	hidden int
	gamma  float64
	steps  int
}

// gridResults are the trained networks of the cosine and accuracy grid.
type gridResults struct {
	preset Preset
	fpa    map[gridKey]*pointResult
	bp     map[int]*pointResult
	took   time.Duration // wall time of this process's part of the grid
	sizes  [3]int        // examples in the training, validation and test sets
	fresh  int           // networks trained in this process, not read from the cache
}

func (g *gridResults) point(h int, gamma, ratio float64) *pointResult {
	return g.fpa[gridKey{h, gamma, Steps(ratio, h)}]
}

// gridSpecs lists the distinct networks of the preset's grid, the BP references first.
func gridSpecs(p Preset, seed uint64, data *mnist.Splits) []pointSpec {
	base := pointSpec{
		Version: cacheVersion, Width: p.Width, Batch: p.Batch, LR: p.LR, Momentum: p.Momentum,
		Seed: seed, Epochs: p.Epochs, EvalsPerEpoch: p.EvalsPerEpoch,
		TrainN: data.Train.Len(), ValN: data.Validation.Len(), TestN: data.Test.Len(),
	}
	var specs []pointSpec
	for _, h := range p.Hidden {
		s := base
		s.Algo, s.Hidden, s.BPTarget, s.BPMaxEpochs = algoBP, h, p.BPTarget, p.BPMaxEpochs
		specs = append(specs, s)
	}
	seen := map[gridKey]bool{}
	for _, h := range p.Hidden {
		for _, g := range p.Gammas {
			for _, r := range p.Ratios {
				k := gridKey{h, g, Steps(r, h)}
				if seen[k] {
					continue
				}
				seen[k] = true
				s := base
				s.Algo, s.Hidden, s.Gamma, s.Steps, s.CosineEvery = algoFPA, h, g, k.steps, p.CosineEvery
				specs = append(specs, s)
			}
		}
	}
	return specs
}

// cost estimates a spec's work in 64x64x64 matrix products, for ordering and ETAs: the
// input layer weighs about 25 of them per batch, every hidden layer 3 (forward, input and
// weight VJP), every inference step H more.
func (s pointSpec) cost() float64 {
	batches := math.Ceil(float64(s.TrainN) / float64(s.Batch))
	base := 25 + 3*float64(s.Hidden)
	if s.Algo == algoBP {
		return batches * base * float64(s.Epochs+s.BPMaxEpochs) / 2
	}
	perBatch := base + float64(s.Steps*s.Hidden)
	return batches * (perBatch*float64(s.Epochs) + base/float64(s.CosineEvery))
}

func (s pointSpec) label() string {
	if s.Algo == algoBP {
		return fmt.Sprintf("BP H=%d", s.Hidden)
	}
	return fmt.Sprintf("FPA-PC H=%d gamma=%g T=%d", s.Hidden, s.Gamma, s.Steps)
}

func (s pointSpec) cacheFile() string {
	if s.Algo == algoBP {
		return fmt.Sprintf("bp_H%02d.json", s.Hidden)
	}
	return fmt.Sprintf("fpa_H%02d_gamma%g_T%03d.json", s.Hidden, s.Gamma, s.Steps)
}

// cacheDir is where the finished grid points of a preset, dataset and seed live.
// MNIST's folder keeps the name it had before there was a choice of dataset.
func (e *runEnv) cacheDir() string {
	name := e.preset.Name
	if e.opts.Dataset != "" && e.opts.Dataset != mnist.MNIST {
		name += "-" + e.opts.Dataset
	}
	return e.path(filepath.Join("cache", fmt.Sprintf("%s-seed%d", name, e.opts.Seed)))
}

// loadCached returns the cached result of spec, or nil when there is none or it was made
// with other settings.
func loadCached(path string, spec pointSpec) (*pointResult, error) {
	return loadCachedJSON(path, spec, func(r *pointResult) pointSpec { return r.Spec })
}

// loadCachedJSON reads a cached result of type R from path and returns it if specOf(it)
// equals spec; nil when there is no file, it is damaged, or it was made with other
// settings (a cache entry is written atomically, so damage comes from outside: the
// caller recomputes it).
func loadCachedJSON[R any, S comparable](path string, spec S, specOf func(*R) S) (*R, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cached result %s: %w", path, err)
	}
	var r R
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil
	}
	if specOf(&r) != spec {
		return nil, nil
	}
	return &r, nil
}

// runGrid trains every network of the grid that is not cached yet, Options.Workers at a
// time, and returns all of them.
func runGrid(ctx context.Context, env *runEnv, data *mnist.Splits) (*gridResults, error) {
	start := time.Now()
	specs := gridSpecs(env.preset, env.opts.Seed, data)
	dir := env.cacheDir()
	if err := render.EnsureDir(dir); err != nil {
		return nil, err
	}
	out := &gridResults{preset: env.preset, fpa: map[gridKey]*pointResult{}, bp: map[int]*pointResult{},
		sizes: [3]int{data.Train.Len(), data.Validation.Len(), data.Test.Len()}}
	var mu sync.Mutex
	keep := func(r *pointResult) {
		mu.Lock()
		defer mu.Unlock()
		s := r.Spec
		if s.Algo == algoBP {
			out.bp[s.Hidden] = r
		} else {
			out.fpa[gridKey{s.Hidden, s.Gamma, s.Steps}] = r
		}
	}
	var todo []pointSpec
	for _, s := range specs {
		var r *pointResult
		if !env.opts.Fresh {
			var err error
			if r, err = loadCached(filepath.Join(dir, s.cacheFile()), s); err != nil {
				return nil, err
			}
		}
		if r != nil {
			keep(r)
			continue
		}
		todo = append(todo, s)
	}
	// Longest first, so that the last worker to finish is not the one that drew H = 16.
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].cost() > todo[j].cost() })
	var total float64
	for _, s := range todo {
		total += s.cost()
	}
	env.log.printf("grid (%s preset): %d networks, %d cached in %s, %d to train on %d workers (sequential engine)",
		env.preset.Name, len(specs), len(specs)-len(todo), dir, len(todo), env.opts.Workers)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(env.opts.Workers)
	var done int
	var doneCost float64
	for _, s := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r, err := trainPoint(gctx, data, s, env.opts.Schedule)
			if err != nil {
				return fmt.Errorf("%s: %w", s.label(), err)
			}
			if err := writeJSON(filepath.Join(dir, s.cacheFile()), r); err != nil {
				return err
			}
			keep(r)
			mu.Lock()
			done++
			doneCost += s.cost()
			n, dc := done, doneCost
			mu.Unlock()
			elapsed := time.Since(start)
			eta := time.Duration(float64(elapsed) * (total - dc) / dc)
			env.log.printf("[%*d/%d] %-34s %s  (%.0fs; elapsed %s, about %s left)",
				digits(len(todo)), n, len(todo), s.label(), r.brief(), r.Seconds,
				elapsed.Round(time.Second), eta.Round(time.Second))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.took = time.Since(start)
	out.fresh = len(todo)
	return out, nil
}

func digits(n int) int { return len(fmt.Sprint(n)) }

// brief is the progress line's summary of a result.
func (r *pointResult) brief() string {
	if r.Diverged != "" {
		return "diverged"
	}
	s := ""
	if len(r.Cosine) > 0 {
		m, _, _ := r.cosineStats()
		s = fmt.Sprintf("cos %.4f, ", m)
	}
	s += fmt.Sprintf("val %s, test %s", render.Percent(r.valAt(r.Spec.Epochs)), render.Percent(float64(r.Test)))
	if r.Spec.Algo == algoBP {
		if r.TargetEpoch > 0 {
			s += fmt.Sprintf("; %s val after %s", render.Percent(r.Spec.BPTarget), render.Plural(r.TargetEpoch, "epoch"))
		} else {
			s += fmt.Sprintf("; %s val not reached in %s", render.Percent(r.Spec.BPTarget), render.Plural(r.FinalEpochs, "epoch"))
		}
	}
	return s
}

// newMLP builds the paper's network: 784 -> Width x H (tanh) -> 10, initialised as
// PyTorch does from a generator seeded by (seed, H), so that BP and every FPA-PC point
// of the same H start from the same weights.
func newMLP(h, width int, seed uint64) ([]*layer.Dense[float64], error) {
	hidden := make([]int, h)
	for i := range hidden {
		hidden[i] = width
	}
	rng := rand.New(rand.NewPCG(seed, uint64(h)))
	return layer.NewMLP[float64](layer.Sizes(mnist.Pixels, hidden, mnist.Classes), layer.Tanh, rng)
}

// errEnough stops a training run early from its epoch hook.
var errEnough = errors.New("enough epochs")

// trainPoint trains one network of the grid and measures it. A run that diverges is a
// result (Diverged says why), not an error.
func trainPoint(ctx context.Context, data *mnist.Splits, ps pointSpec, sched pcnet.Schedule) (*pointResult, error) {
	start := time.Now()
	learner, err := newLearner(ctx, ps, sched)
	if err != nil {
		return nil, err
	}
	defer learner.Close()

	res := &pointResult{Spec: ps, Test: num(math.NaN()), TestLoss: num(math.NaN())}
	var cos layerCosines
	var evalErr error
	evaluate := func(d *mnist.Dataset) (loss, acc float64) {
		loss, acc, err := train.Evaluate(learner.Layers(), layer.NLL{}, d)
		if err != nil && evalErr == nil {
			evalErr = err
		}
		return loss, acc
	}
	validate := func(epoch float64) {
		loss, acc := evaluate(data.Validation)
		res.Val = append(res.Val, evalPoint{Epoch: epoch, Accuracy: num(acc), Loss: num(loss)})
	}
	validate(0)
	isBP := ps.Algo == algoBP
	hooks := train.Hooks{
		Batch: func(b train.BatchInfo) {
			if c := b.Compared; c != nil {
				if len(res.Cosine) == 0 {
					for _, a := range c.Layers {
						if a.NormGot == 0 {
							res.ZeroLayers++
						}
					}
				}
				res.Cosine = append(res.Cosine, num(c.All.Cosine))
				cos.add(c)
			}
			if i := b.Next.Batch; i < b.Batches && isEvalBatch(i, b.Batches, ps.EvalsPerEpoch) {
				validate(float64(b.Next.Epoch) + float64(i)/float64(b.Batches))
			}
		},
		Epoch: func(e train.EpochInfo) error {
			done := e.Epoch + 1
			res.Val = append(res.Val, evalPoint{Epoch: float64(done), Accuracy: num(e.ValAccuracy), Loss: num(e.ValLoss)})
			res.TrainLoss = append(res.TrainLoss, num(e.TrainLoss))
			if done == ps.Epochs {
				loss, acc := evaluate(data.Test)
				res.Test, res.TestLoss = num(acc), num(loss)
			}
			if isBP && res.TargetEpoch == 0 && e.ValAccuracy >= ps.BPTarget {
				res.TargetEpoch = done
			}
			if evalErr != nil {
				return evalErr
			}
			if done >= ps.Epochs && (!isBP || res.TargetEpoch > 0) {
				return errEnough
			}
			return nil
		},
	}
	epochs := ps.Epochs
	if isBP {
		epochs = ps.BPMaxEpochs
	}
	opts := train.Options{Epochs: 1, Batch: ps.Batch, Seed: ps.Seed, CosineEvery: ps.CosineEvery}
	pos, err := train.Run(ctx, learner, data, opts, train.Position{}, hooks)
	if err == nil && epochs > 1 {
		// Cosines are recorded over the first epoch only; the rest trains without BP.
		opts.Epochs, opts.CosineEvery = epochs, 0
		pos, err = train.Run(ctx, learner, data, opts, pos, hooks)
	}
	switch {
	case errors.Is(err, errEnough):
		err = nil
	case errors.Is(err, train.ErrDiverged):
		res.Diverged, err = err.Error(), nil
	}
	if err != nil {
		return nil, err
	}
	res.LayerCosine = cos.means()
	if isBP {
		res.FinalEpochs = pos.Epoch
		res.FinalVal = num(res.valAt(pos.Epoch))
		_, acc := evaluate(data.Test)
		res.FinalTest = num(acc)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, evalErr
}

// newLearner builds the network of a grid point, with its initial weights, and the
// learner that trains it.
func newLearner(ctx context.Context, ps pointSpec, sched pcnet.Schedule) (train.Learner[float64], error) {
	layers, err := newMLP(ps.Hidden, ps.Width, ps.Seed)
	if err != nil {
		return nil, err
	}
	alg, err := spec.ParseAlgorithm(ps.Algo)
	if err != nil {
		return nil, err
	}
	r := paperRun(alg, ps.Hidden, ps.Width, ps.Batch, optim.Config{Kind: optim.SGD, LR: ps.LR, Momentum: ps.Momentum})
	if alg.IsPC() {
		// The sequential engine: each grid point runs in one goroutine, so the worker
		// pool alone decides how many cores work. Its results equal the parallel engine's
		// bit for bit.
		r.PC.Steps, r.PC.Gamma, r.PC.Engine, r.PC.Schedule = ps.Steps, ps.Gamma, pcnet.Sequential, sched
	}
	return train.New(ctx, r, layer.AsMaps(layers), nil)
}

// paperRun is the specification of a learner of the paper's network (784 -> width x h
// (tanh) -> 10, NLL) with algorithm a: every experiment builds its learners from one with
// train.New, as the command does. Its PC settings are the defaults with T = h; the
// caller sets those it varies.
func paperRun(a spec.Algorithm, h, width, batch int, opt optim.Config) *spec.Run {
	r := spec.Default()
	r.Sizes = layer.Sizes(mnist.Pixels, slices.Repeat([]int{width}, h), mnist.Classes)
	r.Algorithm, r.Optimizer, r.Batch, r.Epochs = a, opt, batch, 1
	r.PC.Steps = h
	return &r
}

// layerCosines sums each weight layer's cosine to BP over the compared batches where
// that layer's update was not zero (its cosine is NaN where it was).
type layerCosines struct {
	sum []float64
	n   []int
}

func (lc *layerCosines) add(c *train.Comparison) {
	if lc.sum == nil {
		lc.sum, lc.n = make([]float64, len(c.Layers)), make([]int, len(c.Layers))
	}
	for l, a := range c.Layers {
		if !math.IsNaN(a.Cosine) {
			lc.sum[l] += a.Cosine
			lc.n[l]++
		}
	}
}

// means is each layer's mean cosine, NaN for a layer that never had an update, and nil
// when no batch was compared.
func (lc *layerCosines) means() []num {
	if lc.sum == nil {
		return nil
	}
	out := make([]num, len(lc.sum))
	for l := range lc.sum {
		out[l] = num(math.NaN())
		if lc.n[l] > 0 {
			out[l] = num(lc.sum[l] / float64(lc.n[l]))
		}
	}
	return out
}

// isEvalBatch reports whether validation runs before batch i of an epoch of n batches:
// evals-1 times evenly inside the epoch (the epoch's end is validated by train.Run).
func isEvalBatch(i, n, evals int) bool {
	for k := 1; k < evals; k++ {
		if i == k*n/evals {
			return true
		}
	}
	return false
}

// ratiosOf returns the grid's ratios sorted, for plots and tables.
func ratiosOf(p Preset) []float64 {
	r := slices.Clone(p.Ratios)
	slices.Sort(r)
	return r
}

// measureGrid is the measurement of the cosine and accuracy experiments: the grid they
// share, trained once per run.
func measureGrid(ctx context.Context, env *runEnv) (*gridResults, error) { return env.grid(ctx) }

// grid returns the cosine and accuracy grid, training what the cache lacks the first
// time it is asked for in a run.
func (e *runEnv) grid(ctx context.Context) (*gridResults, error) {
	if e.gridRes != nil {
		return e.gridRes, nil
	}
	data, err := e.data()
	if err != nil {
		return nil, err
	}
	g, err := runGrid(ctx, e, data)
	if err != nil {
		return nil, err
	}
	e.gridRes = g
	return g, nil
}

// indexNote is the grid's paragraph in README.md: how many networks, and what they cost.
func (g *gridResults) indexNote() string {
	var trained float64
	for _, r := range g.fpa {
		trained += r.Seconds
	}
	for _, r := range g.bp {
		trained += r.Seconds
	}
	this := fmt.Sprintf("this run trained %d of them in %s of wall time and read the rest from cache/", g.fresh, g.took.Round(time.Second))
	if g.fresh == 0 {
		this = "this run read all of them from cache/"
	}
	return fmt.Sprintf("The cosine and accuracy grid holds %d networks; training them took %s in all (summed over the "+
		"networks, each on one core); %s.",
		len(g.fpa)+len(g.bp), time.Duration(trained*float64(time.Second)).Round(time.Second), this)
}
