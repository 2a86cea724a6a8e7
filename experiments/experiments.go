package experiments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
)

// experiment is one experiment: its name (the NAME of pcnet experiment NAME), one line
// for the index of README.md, and its run, which measures into a typed result, sets the
// claims against it, renders both into its own CSV, PNG and NAME.md files in the run's
// folder and returns its section of README.md. Each lives in files of its own and
// reaches the others' work only through runEnv (the data, the shared training grid), so
// that a new experiment touches no other experiment's file.
type experiment interface {
	name() string
	describe() string
	run(ctx context.Context, env *runEnv) (*report, error)
}

// report is what one experiment returns: its claims set against its measurements, its
// section of README.md, and what it measured, for the tests.
type report struct {
	checks   []check
	section  section
	measured any
}

// stages are an experiment's three steps on its typed result R, each in code of its own:
// measure fills R with numbers and no text, judge sets the claims against R, and write
// and section render R and the claims into the experiment's files and its part of
// README.md.
type stages[R any] struct {
	measure func(context.Context, *runEnv) (R, error)
	judge   func(R) []check
	write   func(*runEnv, R, []check) error
	section func(R, []check) section
}

// run measures, judges and renders.
func (s stages[R]) run(ctx context.Context, env *runEnv) (*report, error) {
	r, err := s.measure(ctx, env)
	if err != nil {
		return nil, err
	}
	checks := s.judge(r)
	if err := s.write(env, r, checks); err != nil {
		return nil, err
	}
	return &report{checks: checks, section: s.section(r, checks), measured: r}, nil
}

// experimentList holds every experiment in the order "all" runs them: complexity after
// the grid (it measures time, so it runs alone), then online, the longest, and depth,
// which has its own networks (docs/design.md §11).
var experimentList = []experiment{
	cosineExperiment{}, accuracyExperiment{}, wavefrontExperiment{}, complexityExperiment{}, onlineExperiment{},
	depthExperiment{},
}

// Names lists the experiments Run knows, in the order "all" runs them, and "all".
func Names() []string {
	var names []string
	for _, e := range experimentList {
		names = append(names, e.name())
	}
	return append(names, "all")
}

// Options configure Run.
type Options struct {
	// OutDir receives the CSV, PNG and markdown files (created if missing). Finished grid
	// points are cached in OutDir/cache, so a run that was stopped resumes there.
	OutDir string
	// Seed drives the weight initialisation and the order of the batches.
	Seed uint64
	// Quick selects QuickPreset instead of FullPreset.
	Quick bool
	// Preset, when not nil, replaces the preset Quick selects.
	Preset *Preset
	// Dataset is "mnist" (or "") or "fashion" (mnist.LoadDataset). Fashion-MNIST's grid
	// points are cached apart from MNIST's.
	Dataset string
	// DataDir holds the dataset's four files; "" uses its usual place (MNIST: the copy in
	// the Go module cache; Fashion-MNIST: mnist.FashionDir).
	DataDir string
	// Workers bounds the grid points trained at once; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Fresh retrains grid points even when OutDir/cache holds them.
	Fresh bool
	// Schedule is the PC schedule of every network trained or inferred (0: pcnet's
	// default, the event schedule). The schedules give the same numbers, so it changes
	// only the time taken, and cached results hold for both; the complexity experiment
	// times both schedules whatever this says.
	Schedule pcnet.Schedule
}

// Preset fixes the size of every experiment. The paper's setting (§3.4.2: width 64, tanh,
// log-softmax, NLL, SGD with momentum 0.9, batch 64, PyTorch's initialisation) is shared
// by both presets; they differ in how much data and how many settings they cover.
type Preset struct {
	Name string

	// The grid of cosine and accuracy: every (H, Gamma, Ratio) trains one FPA-PC network
	// with T = Steps(Ratio, H).
	Hidden []int
	Gammas []float64
	Ratios []float64

	Width    int
	Batch    int
	LR       float64 // the paper gives none; see the package docs
	Momentum float64

	// TrainN, ValN and TestN > 0 keep only the first so many examples of each split.
	TrainN, ValN, TestN int
	Epochs              int // training epochs of every grid point
	CosineEvery         int // compare every n-th batch of the first epoch with BP
	EvalsPerEpoch       int // validation passes per epoch (the last at the epoch's end)

	// The BP reference of each H trains for Epochs and then on until its validation
	// accuracy reaches BPTarget, for at most BPMaxEpochs epochs in all.
	BPTarget    float64
	BPMaxEpochs int

	// Wavefront: Theorem 1's table for every H in WavefrontHidden, heat maps at
	// WavefrontHeatHidden, T = WavefrontStepsPerLayer·H, over WavefrontBatches batches.
	WavefrontHidden        []int
	WavefrontHeatHidden    int
	WavefrontStepsPerLayer int
	WavefrontBatches       int

	// Complexity: wall time per weight update for every H and GOMAXPROCS, the median
	// over at least ComplexityRounds rounds (one update of every method each) and about
	// ComplexityBudget of rounds per H and GOMAXPROCS.
	ComplexityHidden []int
	ComplexityProcs  []int
	ComplexityRounds int
	ComplexityBudget time.Duration

	// Online is the online-learning experiment's own preset.
	Online OnlinePreset
	// Depth is the depth experiment's own preset.
	Depth DepthPreset
}

// FullPreset is the paper's grid on all of MNIST: H in {2, 4, 8, 16}, gamma in
// {0.1, 0.2, 0.5, 1}, T/H in {0.25, 0.5, 0.75, 1, 1.5, 2, 4}, three epochs per point.
func FullPreset() Preset {
	return Preset{
		Name:                   "full",
		Hidden:                 []int{2, 4, 8, 16},
		Gammas:                 []float64{0.1, 0.2, 0.5, 1},
		Ratios:                 []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 4},
		Width:                  64,
		Batch:                  64,
		LR:                     0.01,
		Momentum:               0.9,
		Epochs:                 3,
		CosineEvery:            1,
		EvalsPerEpoch:          2,
		BPTarget:               0.97,
		BPMaxEpochs:            20,
		WavefrontHidden:        []int{2, 4, 8, 16},
		WavefrontHeatHidden:    8,
		WavefrontStepsPerLayer: 8,
		WavefrontBatches:       8,
		ComplexityHidden:       []int{1, 2, 4, 8, 16, 32},
		ComplexityProcs:        []int{1, 2},
		ComplexityRounds:       15,
		ComplexityBudget:       4 * time.Second,
		Online:                 fullOnline(),
		Depth:                  fullDepth(),
	}
}

// QuickPreset is a small version of FullPreset that runs in well under a minute of CPU time:
// H in {2, 4}, 5,000 training images, two epochs, complexity up to H = 8.
func QuickPreset() Preset {
	p := FullPreset()
	p.Name = "quick"
	p.Hidden = []int{2, 4}
	p.TrainN, p.ValN, p.TestN = 5000, 1000, 2000
	p.Epochs = 2
	p.EvalsPerEpoch = 4
	p.BPMaxEpochs = p.Epochs
	p.WavefrontHidden = []int{2, 4, 8}
	p.WavefrontHeatHidden = 4
	p.WavefrontBatches = 2
	p.ComplexityHidden = []int{1, 2, 4, 8}
	p.ComplexityRounds = 9
	p.ComplexityBudget = time.Second
	p.Online = quickOnline()
	p.Depth = quickDepth()
	return p
}

func (p *Preset) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, h := range slices.Concat(p.Hidden, p.WavefrontHidden, p.ComplexityHidden, []int{p.WavefrontHeatHidden}) {
		if h < 1 {
			bad("hidden layers H = %d: must be >= 1", h)
		}
	}
	for _, g := range p.Gammas {
		if !(g > 0 && g <= 1) {
			bad("gamma = %v: must be in (0, 1]", g)
		}
	}
	for _, r := range p.Ratios {
		if !(r > 0) {
			bad("T/H = %v: must be > 0", r)
		}
	}
	for _, q := range p.ComplexityProcs {
		if q < 1 {
			bad("GOMAXPROCS = %d: must be >= 1", q)
		}
	}
	// The optimiser's ranges are optim's to check.
	if err := (optim.Config{Kind: optim.SGD, LR: p.LR, Momentum: p.Momentum}).Validate(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case p.Width < 1:
		bad("width = %d: must be >= 1", p.Width)
	case p.Batch < 1:
		bad("batch = %d: must be >= 1", p.Batch)
	case p.Epochs < 1:
		bad("epochs = %d: must be >= 1", p.Epochs)
	case p.CosineEvery < 1:
		bad("cosine every = %d: must be >= 1", p.CosineEvery)
	case p.EvalsPerEpoch < 1:
		bad("evaluations per epoch = %d: must be >= 1", p.EvalsPerEpoch)
	case p.BPMaxEpochs < p.Epochs:
		bad("BP max epochs = %d: must be >= epochs (%d)", p.BPMaxEpochs, p.Epochs)
	case p.WavefrontStepsPerLayer < 1 || p.WavefrontBatches < 1:
		bad("wavefront steps per layer = %d, batches = %d: both must be >= 1", p.WavefrontStepsPerLayer, p.WavefrontBatches)
	case p.ComplexityRounds < 1:
		bad("complexity rounds = %d: must be >= 1", p.ComplexityRounds)
	}
	errs = append(errs, p.Online.validate()...)
	errs = append(errs, p.Depth.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("preset %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}

// Run runs the experiment called name (one of Names) and writes its CSV files, PNG plots
// and markdown summary into opts.OutDir, with a line of progress per finished unit of
// work to progress (which may be nil). It stops between grid points, or between batches
// of one, when ctx is cancelled; what finished is cached for the next run.
func Run(ctx context.Context, name string, opts Options, progress io.Writer) error {
	_, err := run(ctx, name, opts, progress)
	return err
}

// results holds what a run measured, for the tests to check.
type results struct {
	measured map[string]any // by experiment name
	checks   []check
	sections []section
}

func run(ctx context.Context, name string, opts Options, progress io.Writer) (*results, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("unknown experiment %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	if opts.OutDir == "" {
		return nil, errors.New("experiments: Options.OutDir is empty: name the folder the results go to")
	}
	preset := FullPreset()
	if opts.Quick {
		preset = QuickPreset()
	}
	if opts.Preset != nil {
		preset = *opts.Preset
	}
	if err := preset.validate(); err != nil {
		return nil, err
	}
	if err := mnist.CheckDatasetName(opts.Dataset); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Schedule == 0 {
		// pcnet's default, which the learners' specification (spec.Run) must name.
		opts.Schedule = pcnet.Event
	}
	if err := render.EnsureDir(opts.OutDir); err != nil {
		return nil, err
	}
	env := &runEnv{opts: opts, preset: preset, log: newLogger(progress), started: time.Now()}
	res := &results{measured: map[string]any{}}
	for _, e := range experimentList {
		if name != e.name() && name != "all" {
			continue
		}
		rep, err := e.run(ctx, env)
		if err != nil {
			return nil, err
		}
		res.measured[e.name()] = rep.measured
		res.checks = append(res.checks, rep.checks...)
		res.sections = append(res.sections, rep.section)
	}
	if err := writeIndex(env, name, res); err != nil {
		return nil, err
	}
	env.log.printf("%s: done in %s; results in %s", name, time.Since(env.started).Round(time.Second), opts.OutDir)
	return res, nil
}

// runEnv is what every experiment of one run shares.
type runEnv struct {
	opts    Options
	preset  Preset
	log     *logger
	started time.Time

	dataOnce sync.Once
	splits   *mnist.Splits
	dataErr  error

	// The training grid that cosine and accuracy share, trained once per run.
	gridRes *gridResults
}

// data loads MNIST once and cuts it to the preset's sizes.
func (e *runEnv) data() (*mnist.Splits, error) {
	e.dataOnce.Do(func() {
		s, err := mnist.LoadDataset(e.opts.Dataset, e.opts.DataDir)
		if err != nil {
			e.dataErr = fmt.Errorf("%s: %w", e.datasetName(), err)
			return
		}
		head := func(d *mnist.Dataset, n int) *mnist.Dataset {
			if n > 0 && n < d.Len() {
				return d.Head(n)
			}
			return d
		}
		e.splits = &mnist.Splits{
			Train:      head(s.Train, e.preset.TrainN),
			Validation: head(s.Validation, e.preset.ValN),
			Test:       head(s.Test, e.preset.TestN),
		}
	})
	return e.splits, e.dataErr
}

// datasetName names the dataset for messages: "MNIST" or "Fashion-MNIST".
func (e *runEnv) datasetName() string {
	if e.opts.Dataset == mnist.Fashion {
		return "Fashion-MNIST"
	}
	return "MNIST"
}

func (e *runEnv) path(file string) string { return filepath.Join(e.opts.OutDir, file) }

// logger writes progress lines from many goroutines, one whole line at a time.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger { return &logger{w: w} }

func (l *logger) printf(format string, args ...any) {
	if l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}
