package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
)

// OnlinePreset sizes the online-learning experiment (paper §3.6, docs/design.md §10).
type OnlinePreset struct {
	Hidden, Width int
	// StreamN and TestN > 0 keep only the first so many training and test images (the
	// stream is then shuffled by the seed); 0 keeps the whole split.
	StreamN, TestN int
	// Seeds: runs per grid point, with seeds Options.Seed, Options.Seed+1, ...
	Seeds int
	// Batches are the batch sizes (1: online), Engines the engine each runs on.
	Batches []int
	Engines []pcnet.Engine
	// The learning-rate grid of each optimiser (every method with that optimiser shares
	// it): plain SGD, SGD with momentum 0.9, Adam.
	SGDRates, MomentumRates, AdamRates []float64
	// Standard PC near equilibrium: PCSteps steps of size PCGamma. iPC: IPCSteps of
	// IPCGamma (so IPCSteps optimiser steps per batch).
	PCSteps    int
	PCGamma    float64
	IPCSteps   int
	IPCGamma   float64
	Curve      int // points of the prequential accuracy along the stream
	SettleRuns int // batches of a PC run whose last inference step is recorded
}

// The divergence criterion: a run has diverged once its loss is not finite, or once the
// mean loss of the images of the last divergeWindow images (at least one batch) exceeds
// divergeLoss, three times the loss of a uniform guess over 10 classes (ln 10): a network
// that is that confidently wrong on hundreds of images in a row has blown up, even where
// Adam's bounded steps keep every number finite. The run stops there; the images after
// it count as wrong predictions.
const (
	divergeWindow = 500
	divergeLoss   = 3 * math.Ln10
	onlineVersion = 1
)

func fullOnline() OnlinePreset {
	return OnlinePreset{
		Hidden: 2, Width: 32, Seeds: 3,
		Batches:       []int{1, 64},
		Engines:       []pcnet.Engine{pcnet.Sequential, pcnet.Sequential},
		SGDRates:      logGrid(1e-3, 10, 9),
		MomentumRates: logGrid(1e-4, 1, 9),
		AdamRates:     logGrid(1e-4, 1, 9),
		PCSteps:       30, PCGamma: 0.2,
		IPCSteps: 3, IPCGamma: 0.5,
		Curve: 50, SettleRuns: 200,
	}
}

func quickOnline() OnlinePreset {
	p := fullOnline()
	p.StreamN, p.TestN = 2000, 1000
	p.Seeds = 2
	p.SGDRates = logGrid(1e-2, 10, 4)
	p.MomentumRates = logGrid(1e-3, 1, 4)
	p.AdamRates = logGrid(1e-3, 1, 4)
	p.Curve = 10
	p.SettleRuns = 40
	return p
}

// logGrid returns n values from lo to hi evenly spaced in log10, rounded to 3 digits.
func logGrid(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		v := math.Pow(10, math.Log10(lo)+float64(i)*(math.Log10(hi)-math.Log10(lo))/float64(n-1))
		out[i], _ = parseFloat3(v)
	}
	return out
}

func parseFloat3(v float64) (float64, error) {
	var r float64
	_, err := fmt.Sscanf(fmt.Sprintf("%.3g", v), "%g", &r)
	return r, err
}

func (p *OnlinePreset) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("online: "+format, args...)) }
	if p.Hidden < 1 || p.Width < 1 {
		bad("network H = %d, width %d: both must be >= 1", p.Hidden, p.Width)
	}
	if p.Seeds < 1 {
		bad("seeds = %d: must be >= 1", p.Seeds)
	}
	if len(p.Batches) == 0 || len(p.Batches) != len(p.Engines) {
		bad("%d batch sizes and %d engines: want one engine per batch size", len(p.Batches), len(p.Engines))
	}
	for _, b := range p.Batches {
		if b < 1 {
			bad("batch = %d: must be >= 1", b)
		}
	}
	for _, g := range [][]float64{p.SGDRates, p.MomentumRates, p.AdamRates} {
		if len(g) < 2 {
			bad("a learning-rate grid has %d values: want at least 2", len(g))
		}
		for _, v := range g {
			if err := (optim.Config{Kind: optim.SGD, LR: v}).Validate(); err != nil {
				bad("%v", err)
			}
		}
	}
	if p.PCSteps < 1 || p.IPCSteps < 1 || !(p.PCGamma > 0) || !(p.IPCGamma > 0) {
		bad("PC steps %d gamma %v, iPC steps %d gamma %v: steps >= 1 and gamma > 0", p.PCSteps, p.PCGamma, p.IPCSteps, p.IPCGamma)
	}
	if p.Curve < 1 || p.SettleRuns < 1 {
		bad("curve points %d, settle samples %d: both must be >= 1", p.Curve, p.SettleRuns)
	}
	return errs
}

// onlineMethod is one learning rule with one optimiser.
type onlineMethod struct {
	name, label string
	alg         spec.Algorithm
	optimiser   string // "sgd", "momentum" or "adam": which grid and optimiser
}

var onlineMethods = []onlineMethod{
	{"bp-sgd", "BP, SGD", spec.BP, "sgd"},
	{"bp-momentum", "BP, SGD + momentum 0.9", spec.BP, "momentum"},
	{"bp-adam", "BP, Adam", spec.BP, "adam"},
	{"pc-sgd", "PC (equilibrium), SGD", spec.PC, "sgd"},
	{"pc-adam", "PC (equilibrium), Adam", spec.PC, "adam"},
	{"ipc-sgd", "iPC, SGD", spec.IPC, "sgd"},
	{"ipc-adam", "iPC, Adam", spec.IPC, "adam"},
	{"fpa-sgd", "FPA-PC gamma 1 (control), SGD", spec.FPA, "sgd"},
}

func methodByName(name string) onlineMethod {
	for _, m := range onlineMethods {
		if m.name == name {
			return m
		}
	}
	panic("experiments: unknown online method " + name)
}

func (p *OnlinePreset) rates(optimiser string) []float64 {
	switch optimiser {
	case "momentum":
		return p.MomentumRates
	case "adam":
		return p.AdamRates
	}
	return p.SGDRates
}

// onlineSpec is everything one online run's result depends on; it keys the cache.
type onlineSpec struct {
	Version int     `json:"version"`
	Method  string  `json:"method"`
	LR      float64 `json:"lr"`
	Seed    uint64  `json:"seed"`
	Batch   int     `json:"batch"`
	Hidden  int     `json:"hidden"`
	Width   int     `json:"width"`
	Steps   int     `json:"steps"` // PC variants
	Gamma   float64 `json:"gamma"` // PC variants
	StreamN int     `json:"stream_n"`
	TestN   int     `json:"test_n"`
	Curve   int     `json:"curve"`
	Settle  int     `json:"settle"`
}

func (s onlineSpec) cacheFile() string {
	return fmt.Sprintf("online_%s_B%d_lr%g_seed%d.json", s.Method, s.Batch, s.LR, s.Seed)
}

func (s onlineSpec) label() string {
	return fmt.Sprintf("%s B=%d lr=%g seed=%d", s.Method, s.Batch, s.LR, s.Seed)
}

// optimiser returns the run's optimiser configuration.
func (s onlineSpec) optimiser() optim.Config {
	switch methodByName(s.Method).optimiser {
	case "momentum":
		return optim.Config{Kind: optim.SGD, LR: s.LR, Momentum: 0.9}
	case "adam":
		return optim.DefaultAdam(s.LR)
	}
	return optim.Config{Kind: optim.SGD, LR: s.LR}
}

// onlineResult is what one run measured; it is cached as JSON.
type onlineResult struct {
	Spec onlineSpec `json:"spec"`
	// Prequential is the share of the stream's images predicted right by the weights
	// before they learned from them; LastTenth the same over the stream's last tenth.
	Prequential num `json:"prequential"`
	LastTenth   num `json:"last_tenth"`
	// Curve is the prequential accuracy of each of Spec.Curve equal parts of the stream.
	Curve []num `json:"curve"`
	// Test is the test accuracy at the end (0 for a diverged run whose weights are not
	// finite: it predicts nothing).
	Test     num `json:"test"`
	TestLoss num `json:"test_loss"`
	// DivergedAt is the number of images seen when the run diverged (0: it did not).
	DivergedAt int    `json:"diverged_at"`
	Diverged   string `json:"diverged,omitempty"`
	// Weights is a SHA-256 of the final weights' bits: equal digests are equal weights.
	Weights string `json:"weights"`
	// Settle (PC variants): over the recorded batches and hidden nodes, the largest and
	// the median relative change of the error at the last inference step,
	// max|e(T) - e(T-1)| / max|e(T)|.
	SettleMax    num     `json:"settle_max"`
	SettleMedian num     `json:"settle_median"`
	SettleP90    num     `json:"settle_p90"`
	Seconds      float64 `json:"seconds"`
}

// onlineResults are all runs of the experiment.
type onlineResults struct {
	preset  OnlinePreset
	seeds   []uint64
	runs    map[onlineSpec]*onlineResult
	streamN int
	testN   int
	took    time.Duration
	fresh   int
}

func (o *onlineResults) get(method string, batch int, lr float64, seed uint64) *onlineResult {
	for s, r := range o.runs {
		if s.Method == method && s.Batch == batch && s.LR == lr && s.Seed == seed {
			return r
		}
	}
	return nil
}

// onlineSpecs lists every run of the preset.
func onlineSpecs(p OnlinePreset, seeds []uint64, streamN, testN int) []onlineSpec {
	var specs []onlineSpec
	for _, b := range p.Batches {
		for _, m := range onlineMethods {
			for _, lr := range p.rates(m.optimiser) {
				for _, seed := range seeds {
					s := onlineSpec{Version: onlineVersion, Method: m.name, LR: lr, Seed: seed, Batch: b,
						Hidden: p.Hidden, Width: p.Width, StreamN: streamN, TestN: testN, Curve: p.Curve}
					switch m.alg {
					case spec.PC:
						s.Steps, s.Gamma, s.Settle = p.PCSteps, p.PCGamma, p.SettleRuns
					case spec.IPC:
						s.Steps, s.Gamma = p.IPCSteps, p.IPCGamma
					case spec.FPA:
						s.Steps, s.Gamma = p.Hidden, 1
					}
					specs = append(specs, s)
				}
			}
		}
	}
	return specs
}

// cost estimates a run's time in units of one BP update at batch 1, for ordering and
// ETAs (measured on this machine: see the README section).
func (s onlineSpec) cost() float64 {
	m := methodByName(s.Method)
	per := 1.0
	if m.optimiser == "adam" {
		per = 2.5
	}
	switch m.alg {
	case spec.PC:
		per += 0.07 * float64(s.Steps)
	case spec.IPC:
		per *= float64(s.Steps)
	}
	if s.Batch > 1 {
		per *= 4 / float64(s.Batch)
	}
	return per * float64(s.StreamN)
}

func (p OnlinePreset) engine(batch int) pcnet.Engine {
	for i, b := range p.Batches {
		if b == batch {
			return p.Engines[i]
		}
	}
	return pcnet.Sequential
}

// runOnline runs every run the cache lacks, Options.Workers at a time.
func runOnline(ctx context.Context, env *runEnv) (*onlineResults, error) {
	start := time.Now()
	p := env.preset.Online
	data, err := env.data()
	if err != nil {
		return nil, err
	}
	stream, test := data.Train, data.Test
	if p.StreamN > 0 && p.StreamN < stream.Len() {
		stream = stream.Head(p.StreamN)
	}
	if p.TestN > 0 && p.TestN < test.Len() {
		test = test.Head(p.TestN)
	}
	seeds := make([]uint64, p.Seeds)
	for i := range seeds {
		seeds[i] = env.opts.Seed + uint64(i)
	}
	specs := onlineSpecs(p, seeds, stream.Len(), test.Len())
	dir := env.cacheDir()
	if err := render.EnsureDir(dir); err != nil {
		return nil, err
	}
	out := &onlineResults{preset: p, seeds: seeds, runs: map[onlineSpec]*onlineResult{}, streamN: stream.Len(), testN: test.Len()}
	var mu sync.Mutex
	var todo []onlineSpec
	for _, s := range specs {
		var r *onlineResult
		if !env.opts.Fresh {
			if r, err = loadCachedJSON(filepath.Join(dir, s.cacheFile()), s, func(r *onlineResult) onlineSpec { return r.Spec }); err != nil {
				return nil, err
			}
		}
		if r != nil && !r.staleDivergence() {
			out.runs[s] = r
			continue
		}
		todo = append(todo, s)
	}
	// Seed by seed, and within a seed longest first: a run stopped early has every
	// method's whole grid for its first seeds, and the last worker to finish a seed has
	// not drawn iPC with Adam.
	sort.SliceStable(todo, func(i, j int) bool {
		if todo[i].Seed != todo[j].Seed {
			return todo[i].Seed < todo[j].Seed
		}
		return todo[i].cost() > todo[j].cost()
	})
	var total, doneCost float64
	for _, s := range todo {
		total += s.cost()
	}
	env.log.printf("online (%s preset): %d runs, %d cached in %s, %d to run on %d workers (%d images, batch %v)",
		env.preset.Name, len(specs), len(specs)-len(todo), dir, len(todo), env.opts.Workers, stream.Len(), p.Batches)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(env.opts.Workers)
	done := 0
	for _, s := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r, err := onlineRun(gctx, stream, test, s, p.engine(s.Batch), env.opts.Schedule)
			if err != nil {
				return fmt.Errorf("online %s: %w", s.label(), err)
			}
			if err := writeJSON(filepath.Join(dir, s.cacheFile()), r); err != nil {
				return err
			}
			mu.Lock()
			out.runs[s] = r
			done++
			doneCost += s.cost()
			n, dc := done, doneCost
			mu.Unlock()
			elapsed := time.Since(start)
			eta := time.Duration(float64(elapsed) * (total - dc) / dc)
			env.log.printf("[%*d/%d] %-40s %s  (%.0fs; elapsed %s, about %s left)", digits(len(todo)), n, len(todo),
				s.label(), r.brief(), r.Seconds, elapsed.Round(time.Second), eta.Round(time.Second))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.took, out.fresh = time.Since(start), len(todo)
	return out, nil
}

func (r *onlineResult) brief() string {
	s := fmt.Sprintf("prequential %s, last tenth %s, test %s", render.Percent(float64(r.Prequential)), render.Percent(float64(r.LastTenth)), render.Percent(float64(r.Test)))
	if r.DivergedAt > 0 {
		s += fmt.Sprintf("; diverged at image %d", r.DivergedAt)
	}
	return s
}

// settleObserver records, on every k-th batch, each hidden node's relative error change
// at the last inference step. The sequential engine calls it from one goroutine, the
// parallel engine from one per node: a mutex keeps it simple.
type settleObserver struct {
	mu     sync.Mutex
	every  int
	batch  int
	steps  int
	ratios []float64
}

func (o *settleObserver) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	if info.Node < 1 || info.Node > info.Hidden {
		return nil
	}
	return settleNode{o}
}

func (o *settleObserver) Batch(pcnet.BatchStats) {
	o.mu.Lock()
	o.batch++
	o.mu.Unlock()
}

type settleNode struct{ o *settleObserver }

func (n settleNode) Step(s pcnet.StepStats) {
	o := n.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if s.Step == o.steps && o.batch%o.every == 0 && s.ErrorMaxAbs > 0 {
		o.ratios = append(o.ratios, s.ChangeMaxAbs/s.ErrorMaxAbs)
	}
}

func (settleNode) End(pcnet.NodeStats) {}

// sorted returns the recorded ratios in increasing order (none for a nil observer).
func (o *settleObserver) sorted() []float64 {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	sort.Float64s(o.ratios)
	return o.ratios
}

// onlineRun streams the images through one learner, batch by batch: predict, then learn.
func onlineRun(ctx context.Context, stream, test *mnist.Dataset, s onlineSpec, eng pcnet.Engine, sched pcnet.Schedule) (*onlineResult, error) {
	start := time.Now()
	layers, err := newMLP(s.Hidden, s.Width, s.Seed)
	if err != nil {
		return nil, err
	}
	m := methodByName(s.Method)
	loader, err := mnist.NewLoader(stream, s.Batch, true, s.Seed)
	if err != nil {
		return nil, err
	}
	loader.SetEpoch(0)
	nb := loader.NumBatches()
	var settle *settleObserver
	r := paperRun(m.alg, s.Hidden, s.Width, s.Batch, s.optimiser())
	var obs pcnet.Observer
	if m.alg.IsPC() {
		r.PC.Steps, r.PC.Gamma, r.PC.Schedule = s.Steps, s.Gamma, sched
		if eng != 0 {
			r.PC.Engine = eng
		}
		if s.Settle > 0 {
			settle = &settleObserver{every: max(1, nb/s.Settle), steps: s.Steps}
			obs = settle
		}
	}
	learner, err := train.New(ctx, r, layer.AsMaps(layers), obs)
	if err != nil {
		return nil, err
	}
	defer learner.Close()
	predictor, err := backprop.New(layers, layer.NLL{})
	if err != nil {
		return nil, err
	}

	res := &onlineResult{Spec: s}
	score := newPrequential(stream.Len(), s.Curve)
	var window lossWindow
	for i := range nb {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, labels := loader.Batch(i)
		z := predictor.Forward(x)
		for r, y := range labels {
			score.add(argmax(z.Row(r)) == y)
		}
		loss, err := learner.Step(ctx, x, labels)
		if errors.Is(err, pcnet.ErrNonFinite) {
			// pcnet refuses weights or a loss that are not finite (so that its schedules
			// cannot disagree): the run diverged in this batch.
			res.DivergedAt, res.Diverged = score.seen, nonFiniteReason
			break
		}
		if err != nil {
			return nil, err
		}
		if why := window.add(loss, len(labels)); why != "" {
			res.DivergedAt, res.Diverged = score.seen, why
			break
		}
	}
	res.Prequential, res.LastTenth, res.Curve = score.result()
	if finite(layers) {
		loss, acc, err := train.Evaluate(layers, layer.NLL{}, test)
		if err != nil {
			return nil, err
		}
		res.Test, res.TestLoss = num(acc), num(loss)
	} else {
		res.Test, res.TestLoss = 0, num(math.Inf(1))
	}
	res.Weights = digest(layers)
	res.SettleMax, res.SettleMedian, res.SettleP90 = settleSummary(settle.sorted())
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// prequential scores a stream's predictions in order, each image predicted by the
// weights before they learned from it. The images a run never reached, after it
// diverged, count as predicted wrong: the accuracies are always over the whole stream.
type prequential struct {
	n     int // images in the stream
	tenth int // the first image of the stream's last tenth
	seen  int // images scored so far
	hits  int
	last  int   // hits in the last tenth
	parts []int // hits in each of the curve's equal parts of the stream
}

func newPrequential(n, parts int) *prequential {
	return &prequential{n: n, tenth: n - n/10, parts: make([]int, parts)}
}

// add scores the next image of the stream.
func (p *prequential) add(ok bool) {
	if ok {
		p.hits++
		p.parts[p.seen*len(p.parts)/p.n]++
		if p.seen >= p.tenth {
			p.last++
		}
	}
	p.seen++
}

// result is the prequential accuracy over the stream and over its last tenth, and along
// the stream, the accuracy of each of its equal parts.
func (p *prequential) result() (all, lastTenth num, curve []num) {
	curve = make([]num, len(p.parts))
	for k, h := range p.parts {
		// Part k holds the images i with i·parts/n = k.
		from, to := (k*p.n+len(p.parts)-1)/len(p.parts), ((k+1)*p.n+len(p.parts)-1)/len(p.parts)
		curve[k] = num(float64(h) / float64(max(1, to-from)))
	}
	return num(float64(p.hits) / float64(p.n)), num(float64(p.last) / float64(p.n-p.tenth)), curve
}

// settleSummary is the largest, the median (the upper one of an even count) and the
// 90th percentile (the value below which fall 90% of the others, rounded down) of
// sorted relative changes, all NaN when there are none.
func settleSummary(sorted []float64) (maxChange, median, p90 num) {
	if len(sorted) == 0 {
		return num(math.NaN()), num(math.NaN()), num(math.NaN())
	}
	n := len(sorted)
	return num(sorted[n-1]), num(sorted[n/2]), num(sorted[n*9/10])
}

// nonFiniteReason is onlineResult.Diverged for a PC run that pcnet stopped because a
// weight or the loss was no longer finite.
const nonFiniteReason = "weights or loss not finite"

// staleDivergence reports a cached PC run that diverged through a NaN or infinite loss
// before pcnet refused non-finite values itself: it reported the divergence a batch
// later, so the run is redone (quickly: it stops where it diverges). Backprop's runs and
// runs stopped by the mean-loss criterion are unaffected.
func (r *onlineResult) staleDivergence() bool {
	return methodByName(r.Spec.Method).alg.IsPC() && strings.HasPrefix(r.Diverged, "loss ")
}

// lossWindow is the divergence criterion over the last divergeWindow images.
type lossWindow struct {
	losses []float64 // batch means
	sizes  []int
	sum    float64
	images int
}

// add takes a batch's mean loss and returns why the run diverged, or "".
func (w *lossWindow) add(loss float64, images int) string {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Sprintf("loss %v", loss)
	}
	w.losses, w.sizes = append(w.losses, loss), append(w.sizes, images)
	w.sum += loss * float64(images)
	w.images += images
	for len(w.sizes) > 1 && w.images-w.sizes[0] >= divergeWindow {
		w.sum -= w.losses[0] * float64(w.sizes[0])
		w.images -= w.sizes[0]
		w.losses, w.sizes = w.losses[1:], w.sizes[1:]
	}
	if w.images >= divergeWindow {
		if mean := w.sum / float64(w.images); mean > divergeLoss {
			return fmt.Sprintf("mean loss %.3g over the last %d images", mean, w.images)
		}
	}
	return ""
}

// argmax is the predicted class of a row of logits; -1 (no class) when one is NaN.
func argmax(row []float64) int {
	best := 0
	for j, v := range row {
		if math.IsNaN(v) {
			return -1
		}
		if v > row[best] {
			best = j
		}
	}
	return best
}

func finite(layers []*layer.Dense[float64]) bool {
	for _, d := range layers {
		for _, p := range d.Params() {
			for _, v := range p {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return false
				}
			}
		}
	}
	return true
}

// digest is a SHA-256 of every weight's bits, layer by layer, weight before bias.
func digest(layers []*layer.Dense[float64]) string {
	h := sha256.New()
	var b [8]byte
	for _, d := range layers {
		for _, p := range d.Params() {
			for _, v := range p {
				binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
				h.Write(b[:])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// onlineExperiment is the paper's open question of §3.6 (docs/design.md §10).
type onlineExperiment struct{}

func (onlineExperiment) name() string { return "online" }

func (onlineExperiment) describe() string {
	return "§3.6's open question: online learning (batch 1) at high learning rates, PC and iPC against SGD, momentum and Adam"
}

func (onlineExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*onlineResults]{runOnline, onlineChecks, writeOnline, onlineSection}.run(ctx, env)
}
