package spec

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// Algorithm is how a run learns: backprop or a predictive-coding variant. The zero
// value is no algorithm; Validate refuses it.
type Algorithm int

// The algorithms.
const (
	BP     Algorithm = iota + 1 // backpropagation, the reference
	FPA                         // pcnet.FixedPrediction
	PC                          // pcnet.Standard
	Scaled                      // pcnet.VarianceScaled
	ZIL                         // pcnet.ZeroDivergence
	IPC                         // pcnet.Incremental
)

// variants maps each PC algorithm to its pcnet variant.
var variants = map[Algorithm]pcnet.Variant{
	FPA: pcnet.FixedPrediction, PC: pcnet.Standard, Scaled: pcnet.VarianceScaled,
	ZIL: pcnet.ZeroDivergence, IPC: pcnet.Incremental,
}

// Algorithms lists every algorithm, BP first.
func Algorithms() []Algorithm { return []Algorithm{BP, FPA, PC, Scaled, ZIL, IPC} }

// AlgorithmNames are the algorithms' names in the order of Algorithms.
func AlgorithmNames() []string {
	var names []string
	for _, a := range Algorithms() {
		names = append(names, a.String())
	}
	return names
}

// String returns "bp" or the PC variant's short name ("fpa", "pc", "scaled", "zil",
// "ipc").
func (a Algorithm) String() string {
	if a == BP {
		return "bp"
	}
	if v, ok := variants[a]; ok {
		return v.String()
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm maps a name that String returns to its Algorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms() {
		if s == a.String() {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown algorithm %q (want one of %s)", s, strings.Join(AlgorithmNames(), ", "))
}

// Variant returns the PC variant, and false for BP (and an unknown algorithm).
func (a Algorithm) Variant() (pcnet.Variant, bool) {
	v, ok := variants[a]
	return v, ok
}

// IsPC reports whether a is a predictive-coding variant.
func (a Algorithm) IsPC() bool {
	_, ok := variants[a]
	return ok
}

// FromVariant returns the algorithm of a PC variant (0 for an unknown one).
func FromVariant(v pcnet.Variant) Algorithm {
	for a, av := range variants {
		if av == v {
			return a
		}
	}
	return 0
}

// Run is a training run's specification. Every field is plain data, so that it
// gob-encodes exactly (floats bit for bit).
type Run struct {
	// Sizes are the node widths: MNIST's 784 inputs (for the command), H hidden widths,
	// the output width.
	Sizes      []int
	Activation layer.Activation // of the hidden layers; the last layer is linear
	Loss       string           // "nll", "mse", "ce" or "sse" (layer.ParseLoss)

	// Arch, Param and Skips make the network a layer graph (docs/design.md §11): the
	// shape of its hidden layers (chain or μPC's residual stream), its parameterisation
	// (standard or μPC's multipliers with N(0, 1) weights, no biases) and its long skips
	// i -> j. Their zero values are the chain of dense layers every run was before them,
	// so an old checkpoint or gob-encoded Run keeps its meaning. See Graph and
	// InitialMapsOf.
	Arch  graph.Shape
	Param layer.Param
	Skips []graph.Skip

	Algorithm Algorithm
	PC        PCSettings
	Optimizer optim.Config

	Batch  int
	Epochs int
	Seed   uint64 // of the initial weights (PCG (Seed, 0)) and of the shuffling
	Data   Data

	// Precision is the element type the run computes and stores its weights in
	// (docs/design.md §6, "Precision"); the zero value is F64, what every run was before the choice.
	Precision Precision
}

// Precision is a run's element type: float64 (F64, the zero value) or float32 (F32).
// The one place that turns it into a type is the caller's switch over it, which calls
// the generic code as f[float32] or f[float64]; see PrecisionOf.
type Precision uint8

// The precisions.
const (
	F64 Precision = iota // float64
	F32                  // float32
)

// Precisions lists the precisions by their names: f32 first, the commands' default.
func Precisions() []Precision { return []Precision{F32, F64} }

// String returns "f32" or "f64", the name -precision takes.
func (p Precision) String() string {
	switch p {
	case F64:
		return "f64"
	case F32:
		return "f32"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// Type returns Go's name of the element type: "float32" or "float64".
func (p Precision) Type() string {
	if p == F32 {
		return "float32"
	}
	return "float64"
}

// ParsePrecision maps "f32" or "f64" to its Precision.
func ParsePrecision(s string) (Precision, error) {
	for _, p := range Precisions() {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown precision %q (want f32 or f64)", s)
}

// PrecisionOf returns the Precision of the element type T.
func PrecisionOf[T tensor.Float]() Precision {
	var z T
	if _, ok := any(z).(float32); ok {
		return F32
	}
	return F64
}

// PCSettings are pcnet's settings. Backprop ignores them, but a checkpoint stores them,
// so they are checked for every algorithm.
type PCSettings struct {
	Steps      int     // T
	Gamma      float64 // the inference step size
	K          float64 // the hidden precision of Scaled
	Precisions []float64
	Engine     pcnet.Engine
	Schedule   pcnet.Schedule
	// Tolerance is the relative tolerance by which the metrics judge that a step moved
	// a node's error (metrics.Options.ConvergenceTolerance), in [0, 1); 0: the metrics'
	// default. It measures and changes no number, so checkpoints do not keep it.
	Tolerance float64
}

// Data says which training images a run reads.
type Data struct {
	// Dataset is "" (MNIST; "mnist" is accepted too, but checkpoints keep "") or
	// "fashion" (Fashion-MNIST); see mnist.LoadDataset.
	Dataset  string
	Dir      string // the dataset's four files; "": its usual place (mnist.LoadDataset)
	MaxTrain int    // use only the first MaxTrain training images; 0: all
}

// The bounds of a network's shape and of a batch.
const (
	MaxHidden = 1024
	MaxWidth  = 1 << 16
	MaxBatch  = 1 << 16
)

// Default returns the command's default run: FPA-PC with gamma 1 and T = H on
// 784-[64 tanh]x4-10, SGD with lr 0.01 and momentum 0.9, batch 64, five epochs, seed 1.
// Its Precision is the zero value, F64, which the library's callers (the experiments)
// keep; the train and compare commands set F32, their -precision default.
func Default() Run {
	return Run{
		Sizes: []int{784, 64, 64, 64, 64, 10}, Activation: layer.Tanh, Loss: "nll",
		Algorithm: FPA,
		PC:        PCSettings{Steps: 4, Gamma: 1, K: 1, Engine: pcnet.Parallel, Schedule: pcnet.Event},
		Optimizer: optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9},
		Batch:     64, Epochs: 5, Seed: 1,
	}
}

// Hidden returns H.
func (r *Run) Hidden() int { return len(r.Sizes) - 2 }

// LossFunc returns the loss Loss names (layer.NLL for a name it does not know, which
// Validate refuses).
func (r *Run) LossFunc() layer.Loss {
	l, err := layer.ParseLoss(r.Loss)
	if err != nil {
		return layer.NLL{}
	}
	return l
}

// PCConfig returns pcnet's configuration of a PC run, with obs as its observer (nil:
// none) and the batch as MaxBatch. For BP its Variant is 0.
func (r *Run) PCConfig(obs pcnet.Observer) pcnet.Config {
	v, _ := r.Algorithm.Variant()
	p := r.PC
	return pcnet.Config{
		Variant: v, Steps: p.Steps, Gamma: p.Gamma, K: p.K, Precisions: p.Precisions,
		Loss: r.LossFunc(), Engine: p.Engine, Schedule: p.Schedule, MaxBatch: r.Batch,
		Optimizer: r.Optimizer, Observer: obs,
	}
}

// FieldError is a setting out of range; Field names it as the command's flag does.
type FieldError = pcnet.FieldError

func fieldErr(field string, v any, problem string) error {
	return &FieldError{Field: field, Value: v, Problem: problem}
}

// CheckHidden checks H, before a caller builds H widths.
func CheckHidden(h int) error {
	switch {
	case h < 1:
		return fieldErr("hidden", h, "must be >= 1")
	case h > MaxHidden:
		return fieldErr("hidden", h, fmt.Sprintf("must be <= %d", MaxHidden))
	}
	return nil
}

// CheckWidth checks one hidden width.
func CheckWidth(w int) error {
	if w < 1 || w > MaxWidth {
		return fieldErr("width", w, fmt.Sprintf("must be in 1..%d", MaxWidth))
	}
	return nil
}

// Validate checks every setting; the first out of range is a *FieldError.
func (r *Run) Validate() error {
	if r.Algorithm != BP && !r.Algorithm.IsPC() {
		return fieldErr("algorithm", int(r.Algorithm), "unknown algorithm")
	}
	if err := r.validateShape(); err != nil {
		return err
	}
	g, err := r.Graph()
	if err != nil {
		return err
	}
	// The batch first: pcnet would name it its max batch.
	switch {
	case r.Batch < 1:
		return fieldErr("batch", r.Batch, "must be >= 1")
	case r.Batch > MaxBatch:
		return fieldErr("batch", r.Batch, fmt.Sprintf("must be <= %d", MaxBatch))
	case r.Epochs < 1:
		return fieldErr("epochs", r.Epochs, "must be >= 1")
	case r.Data.MaxTrain < 0:
		return fieldErr("max-train", r.Data.MaxTrain, "must be >= 0")
	case mnist.CheckDatasetName(r.Data.Dataset) != nil:
		return fieldErr("dataset", r.Data.Dataset, "unknown dataset (want "+strings.Join(mnist.DatasetNames(), " or ")+")")
	case !(r.PC.Tolerance >= 0 && r.PC.Tolerance < 1):
		return fieldErr("tol", r.PC.Tolerance, "must be in [0, 1)")
	case r.Precision != F64 && r.Precision != F32:
		return fieldErr("precision", r.Precision, "unknown precision (want f32 or f64)")
	}
	if err := r.validatePC(g); err != nil {
		return err
	}
	return validateOptimizer(r.Optimizer)
}

func (r *Run) validateShape() error {
	if err := CheckHidden(r.Hidden()); err != nil {
		return err
	}
	for _, w := range r.Sizes {
		if err := CheckWidth(w); err != nil {
			return err
		}
	}
	if _, err := layer.ParseActivation(r.Activation.String()); err != nil {
		return fieldErr("activation", int(r.Activation), "unknown activation")
	}
	if _, err := layer.ParseLoss(r.Loss); err != nil {
		return fieldErr("loss", r.Loss, "unknown loss (want nll, mse, ce or sse)")
	}
	if r.Param != layer.Standard && r.Param != layer.MuPC {
		return fieldErr("param", int(r.Param), "unknown parameterisation (want standard or mupc)")
	}
	return nil
}

// Graph returns the run's layer graph (docs/design.md §11): graph.New on Sizes, Arch and
// Skips. Its error is a *FieldError naming -arch (an unknown shape, or a residual
// network whose hidden widths differ) or -skips (a skip out of range, too short, given
// twice or between nodes of different widths), with graph.New's message as the problem.
func (r *Run) Graph() (*graph.Graph, error) {
	g, err := graph.New(r.Sizes, r.Arch, r.Skips)
	if err == nil {
		return g, nil
	}
	problem := strings.TrimPrefix(err.Error(), "graph: ")
	switch {
	case errors.Is(err, graph.ErrShape):
		return nil, fieldErr("arch", r.Arch.String(), problem)
	case errors.Is(err, graph.ErrWidths) && r.Arch == graph.Residual:
		return nil, fieldErr("arch", r.Arch.String(), problem)
	case errors.Is(err, graph.ErrWidths):
		return nil, fieldErr("width", r.Sizes, problem)
	}
	return nil, fieldErr("skips", graph.FormatSkips(r.Skips), problem)
}

// Dense reports whether the run's maps are dense layers (layer.Dense, weight and bias):
// the chain shape under the standard parameterisation, with or without long skips. Every
// other run's maps are layer.PreAct maps (weight only). See InitialMapsOf.
func (r *Run) Dense() bool { return r.Arch == graph.Chain && r.Param == layer.Standard }

// IsGraph reports whether the run's network is more than today's chain of dense layers:
// a residual shape, the μPC parameterisation or long skips.
func (r *Run) IsGraph() bool { return !r.Dense() || len(r.Skips) > 0 }

// GammaOfActivityLR is the one conversion of jpc's activity step eta, which applies to
// the batch mean of the energy, into pcnet's per-sample step: gamma = eta / batch
// (docs/design.md §11). A Run stores gamma, what pcnet computes with; -activity-lr sets
// it through this function.
func GammaOfActivityLR(eta float64, batch int) float64 { return eta / float64(batch) }

// validatePC delegates pcnet's settings to pcnet.Config.Validate. pcnet reads k only
// for Scaled and nothing for BP, but a checkpoint stores them all, so first they are all
// checked as Scaled's (without the precisions, which are per variant).
//
// A PC variant is checked against the run's graph g too (pcnet.Config.ValidateGraph), so
// that what pcnet refuses of a graph (a variant that does not run with long skips) is
// refused here with pcnet's message.
func (r *Run) validatePC(g *graph.Graph) error {
	cfg := r.PCConfig(nil)
	all := cfg
	all.Variant, all.Precisions = pcnet.VarianceScaled, nil
	if err := all.Validate(r.Hidden()); err != nil {
		return err
	}
	if r.Algorithm == BP {
		if r.PC.Precisions != nil {
			return fieldErr("precisions", r.PC.Precisions, "only the pc and ipc variants take per-node precisions, not bp")
		}
		return nil
	}
	return cfg.ValidateGraph(g)
}

// validateOptimizer checks the optimiser as optim does: one place for its ranges, whose
// *optim.FieldError names the setting as the flags do.
func validateOptimizer(o optim.Config) error {
	err := o.Validate()
	var fe *optim.FieldError
	if errors.As(err, &fe) {
		return fieldErr(fe.Field, fe.Value, fe.Problem)
	}
	return err
}

// InitialLayers returns the run's initial weights in float64 (InitialLayersOf).
func (r *Run) InitialLayers() ([]*layer.Dense[float64], error) {
	return InitialLayersOf[float64](r)
}

// InitialLayersOf returns the initial weights of a run of dense layers (Dense) in
// precision T, as PyTorch's nn.Linear initialises them, from math/rand/v2's PCG seeded
// with (Seed, 0), layer by layer, weight before bias: every learner of the run starts
// from them. For a run whose maps are not dense it returns an error; InitialMapsOf
// serves every run.
func InitialLayersOf[T tensor.Float](r *Run) ([]*layer.Dense[T], error) {
	if !r.Dense() {
		return nil, fmt.Errorf("a %s %s network has no dense layers: use its maps (InitialMapsOf)", r.Arch, r.Param)
	}
	return layer.NewMLP[T](r.Sizes, r.Activation, rand.New(rand.NewPCG(r.Seed, 0)))
}

// InitialMapsOf returns the run's initial maps in precision T, one per node 0..H, from
// math/rand/v2's PCG seeded with (Seed, 0). A run of dense layers (Dense: the chain
// under the standard parameterisation, long skips or not) gets InitialLayersOf's layers,
// the same draws bit for bit, so that runs and checkpoints from before graphs keep their
// numbers. Every other run gets layer.NewPreActNet's pre-activation maps on Sizes with
// the run's activation as phi, the identity skip inside the hidden layers when Arch is
// residual, and Param's multipliers and initialisation (docs/design.md §11).
func InitialMapsOf[T tensor.Float](r *Run) ([]layer.Map[T], error) {
	if r.Dense() {
		layers, err := InitialLayersOf[T](r)
		if err != nil {
			return nil, err
		}
		return layer.AsMaps(layers), nil
	}
	pre, err := layer.NewPreActNet[T](r.Sizes, r.Activation, r.Param, r.Arch == graph.Residual, rand.New(rand.NewPCG(r.Seed, 0)))
	if err != nil {
		return nil, err
	}
	return layer.AsMaps(pre), nil
}

// DescribeNet is the network's notation in messages: "784-64-64-10 tanh".
func DescribeNet(sizes []int, act layer.Activation) string {
	s := make([]string, len(sizes))
	for i, n := range sizes {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, "-") + " " + act.String()
}

// DescribeGraph is what DescribeNet's notation gains for a layer graph, the settings that
// are not the defaults: " residual mupc skips 1:4,3:8"; "" for a chain of dense layers.
func DescribeGraph(arch graph.Shape, param layer.Param, skips []graph.Skip) string {
	var b strings.Builder
	if arch != graph.Chain {
		b.WriteString(" " + arch.String())
	}
	if param != layer.Standard {
		b.WriteString(" " + param.String())
	}
	if len(skips) > 0 {
		b.WriteString(" skips " + graph.FormatSkips(skips))
	}
	return b.String()
}

// Net is the run's network in messages: DescribeNet and DescribeGraph,
// "784-128-128-10 relu residual mupc skips 1:3".
func (r *Run) Net() string {
	return DescribeNet(r.Sizes, r.Activation) + DescribeGraph(r.Arch, r.Param, r.Skips)
}
