package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
)

// stepsFlag is T: unset, it means H, which is not known until -hidden is.
type stepsFlag struct {
	v   int
	set bool
}

func (s *stepsFlag) String() string {
	if s == nil || !s.set {
		return "H"
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

// steps returns T for a network of h hidden layers.
func (s *stepsFlag) steps(h int) int {
	if !s.set {
		return h
	}
	return s.v
}

// archFlags are the flags that fix a network's shape.
type archFlags struct {
	hidden     int
	width      string
	activation string
}

func (a *archFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&a.hidden, "hidden", 4, "`H`, the number of hidden layers (>= 1)")
	fs.StringVar(&a.width, "width", "64", "hidden layer `widths`: one width for every hidden layer, or a comma list of H widths")
	fs.StringVar(&a.activation, "activation", "tanh", "`activation` of the hidden layers: tanh, relu, sigmoid or identity")
}

// resolve returns the node widths (784, hidden..., 10) and the activation.
func (a *archFlags) resolve() ([]int, layer.Activation, error) {
	if a.hidden < 1 {
		return nil, 0, usagef("-hidden: must be >= 1, got %d", a.hidden)
	}
	if a.hidden > 1024 {
		return nil, 0, usagef("-hidden: must be <= 1024, got %d", a.hidden)
	}
	fields := strings.Split(a.width, ",")
	widths := make([]int, 0, a.hidden)
	for _, f := range fields {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > 1<<16 {
			return nil, 0, usagef("-width %q: want widths in 1..65536, one for every hidden layer or a comma list of H of them", a.width)
		}
		widths = append(widths, w)
	}
	switch {
	case len(widths) == 1:
		for len(widths) < a.hidden {
			widths = append(widths, widths[0])
		}
	case len(widths) != a.hidden:
		return nil, 0, usagef("-width %q lists %d widths but -hidden is %d: give one width or H of them", a.width, len(widths), a.hidden)
	}
	act, err := layer.ParseActivation(a.activation)
	if err != nil {
		return nil, 0, usagef("-activation: %v", err)
	}
	return layer.Sizes(mnist.Pixels, widths, mnist.Classes), act, nil
}

// inferFlags are the predictive-coding settings.
type inferFlags struct {
	steps      stepsFlag
	gamma      float64
	k          float64
	precisions string
	engine     string
	schedule   string
	loss       string
}

func (p *inferFlags) register(fs *flag.FlagSet) {
	fs.Var(&p.steps, "steps", "`T`, the inference steps per batch (>= 0; H when not given)")
	fs.Float64Var(&p.gamma, "gamma", 1, "inference step size (> 0; zil needs 1)")
	fs.Float64Var(&p.k, "k", 1, "hidden precision of the scaled variant (> 0): variances 1/k, step gamma/k")
	fs.StringVar(&p.precisions, "precisions", "", "comma list of H hidden precisions pi_1..pi_H for the pc and ipc variants (empty: all 1)")
	fs.StringVar(&p.engine, "engine", "parallel", "`engine`: parallel (a goroutine per layer) or sequential (the reference); both give the same numbers")
	fs.StringVar(&p.schedule, "schedule", "event", "`schedule`: event (compute only when a message brings news) or dense (every product at every step); both give the same numbers")
	fs.StringVar(&p.loss, "loss", "nll", "`loss`: nll (log-softmax cross-entropy) or mse (squared error to one-hot)")
}

// pcSettings are the resolved inference settings.
type pcSettings struct {
	steps      int
	gamma, k   float64
	precisions []float64
	engine     pcnet.Engine
	schedule   pcnet.Schedule
	loss       layer.Loss
}

func (p *inferFlags) resolve(h int) (pcSettings, error) {
	s := pcSettings{steps: p.steps.steps(h), gamma: p.gamma, k: p.k}
	if s.steps < 0 {
		return s, usagef("-steps: must be >= 0, got %d", s.steps)
	}
	if !(p.gamma > 0) || math.IsInf(p.gamma, 0) {
		return s, usagef("-gamma: must be a finite number > 0, got %v", p.gamma)
	}
	if !(p.k > 0) || math.IsInf(p.k, 0) {
		return s, usagef("-k: must be a finite number > 0, got %v", p.k)
	}
	if p.precisions != "" {
		for _, f := range strings.Split(p.precisions, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return s, usagef("-precisions %q: want a comma list of finite numbers > 0", p.precisions)
			}
			s.precisions = append(s.precisions, v)
		}
		if len(s.precisions) != h {
			return s, usagef("-precisions %q lists %d values but -hidden is %d", p.precisions, len(s.precisions), h)
		}
	}
	var err error
	if s.engine, err = pcnet.ParseEngine(p.engine); err != nil {
		return s, usagef("-engine: %v", err)
	}
	if s.schedule, err = pcnet.ParseSchedule(p.schedule); err != nil {
		return s, usagef("-schedule: %v", err)
	}
	if s.loss, err = layer.ParseLoss(p.loss); err != nil {
		return s, usagef("-loss: %v", err)
	}
	return s, nil
}

// optimFlags are the optimiser's settings.
type optimFlags struct {
	kind        string
	lr          float64
	momentum    float64
	dampening   float64
	nesterov    bool
	weightDecay float64
	beta1       float64
	beta2       float64
	eps         float64
}

func (o *optimFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.kind, "optimizer", "sgd", "`optimizer`: sgd or adam (torch.optim's semantics)")
	fs.Float64Var(&o.lr, "lr", 0.01, "learning rate (> 0)")
	fs.Float64Var(&o.momentum, "momentum", 0.9, "sgd momentum in [0, 1)")
	fs.Float64Var(&o.dampening, "dampening", 0, "sgd dampening in [0, 1]")
	fs.BoolVar(&o.nesterov, "nesterov", false, "sgd Nesterov momentum")
	fs.Float64Var(&o.weightDecay, "weight-decay", 0, "L2 weight decay added to the gradient (>= 0)")
	fs.Float64Var(&o.beta1, "beta1", optim.DefaultBeta1, "adam beta1 in [0, 1)")
	fs.Float64Var(&o.beta2, "beta2", optim.DefaultBeta2, "adam beta2 in [0, 1)")
	fs.Float64Var(&o.eps, "eps", optim.DefaultEps, "adam eps (> 0)")
}

var sgdOnly = []string{"momentum", "dampening", "nesterov"}
var adamOnly = []string{"beta1", "beta2", "eps"}

func (o *optimFlags) resolve(explicit map[string]bool) (optim.Config, error) {
	kind, err := optim.ParseKind(o.kind)
	if err != nil {
		return optim.Config{}, usagef("-optimizer %q: want sgd or adam", o.kind)
	}
	cfg := optim.Config{Kind: kind, LR: o.lr, WeightDecay: o.weightDecay}
	other := adamOnly
	if kind == optim.Adam {
		other = sgdOnly
	}
	for _, name := range other {
		if explicit[name] {
			return cfg, usagef("-%s is not a setting of -optimizer %s", name, kind)
		}
	}
	switch kind {
	case optim.SGD:
		cfg.Momentum, cfg.Dampening, cfg.Nesterov = o.momentum, o.dampening, o.nesterov
	case optim.Adam:
		cfg.Beta1, cfg.Beta2, cfg.Eps = o.beta1, o.beta2, o.eps
	}
	checks := []struct {
		name string
		bad  bool
		want string
		v    any
	}{
		{"lr", !(cfg.LR > 0) || math.IsInf(cfg.LR, 0), "a finite number > 0", cfg.LR},
		{"weight-decay", !(cfg.WeightDecay >= 0) || math.IsInf(cfg.WeightDecay, 0), "a finite number >= 0", cfg.WeightDecay},
		{"momentum", !(cfg.Momentum >= 0 && cfg.Momentum < 1), "in [0, 1)", cfg.Momentum},
		{"dampening", !(cfg.Dampening >= 0 && cfg.Dampening <= 1), "in [0, 1]", cfg.Dampening},
		{"beta1", kind == optim.Adam && !(cfg.Beta1 >= 0 && cfg.Beta1 < 1), "in [0, 1)", cfg.Beta1},
		{"beta2", kind == optim.Adam && !(cfg.Beta2 >= 0 && cfg.Beta2 < 1), "in [0, 1)", cfg.Beta2},
		{"eps", kind == optim.Adam && (!(cfg.Eps > 0) || math.IsInf(cfg.Eps, 0)), "a finite number > 0", cfg.Eps},
	}
	for _, c := range checks {
		if c.bad {
			return cfg, usagef("-%s: must be %s, got %v", c.name, c.want, c.v)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("-optimizer %s: %v", kind, strings.TrimPrefix(err.Error(), "optim: "))
	}
	return cfg, nil
}

// parseVariant accepts bp and the PC variants; the PC variant is 0 for bp.
func parseVariant(flagName, s string) (pcnet.Variant, error) {
	if s == "bp" {
		return 0, nil
	}
	v, err := pcnet.ParseVariant(s)
	if err != nil {
		return 0, usagef("-%s %q: want one of %s", flagName, s, strings.Join(checkpoint.Variants, ", "))
	}
	return v, nil
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
	switch name {
	case "train", "validation", "test":
		return nil
	}
	return usagef("-split %q: want train, validation or test", name)
}

// describeNet is "784-64-64-10 tanh".
func describeNet(sizes []int, act layer.Activation) string {
	return fmt.Sprintf("%s %s", strings.ReplaceAll(checkpoint.FormatInts(sizes), ",", "-"), act)
}

// loadData loads MNIST, naming -data in errors.
func loadData(dir string) (*mnist.Splits, error) {
	data, err := mnist.Load(dir)
	if err != nil {
		if dir == "" {
			return nil, fmt.Errorf("-data \"\" (MNIST from the module cache): %w", err)
		}
		return nil, fmt.Errorf("-data %s: %w", dir, err)
	}
	return data, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
