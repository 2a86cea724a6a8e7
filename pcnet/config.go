package pcnet

import (
	"fmt"
	"math"
	"strings"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
)

// Variant is a predictive-coding algorithm.
type Variant int

// The variants of docs/design.md §2.
const (
	// FixedPrediction is FPA-PC: predictions and Jacobians frozen at the feed-forward
	// values; the runtime integrates the errors e_l directly.
	FixedPrediction Variant = iota + 1
	// Standard is standard (variational) PC with a precision per node; the runtime
	// integrates the states x_l and forms e_l = x_l - f(x_{l-1}) at every step.
	Standard
	// VarianceScaled is standard PC with every hidden precision equal to K and step
	// size Gamma/K: the infinite-variance limit as K grows.
	VarianceScaled
	// ZeroDivergence is Z-IL: standard PC with unit precisions and step size 1, whose
	// update of W_l is taken at step H-l.
	ZeroDivergence
	// Incremental is incremental PC (iPC, docs/design.md §8): standard PC's errors and state
	// steps, with every node's optimiser step taken at every inference step t < T along
	// that step's update, so that the weights learn during inference.
	Incremental
)

var variantNames = map[Variant]string{
	FixedPrediction: "fpa", Standard: "pc", VarianceScaled: "scaled", ZeroDivergence: "zil", Incremental: "ipc",
}

// String returns the variant's short name, as used by flags and metric labels.
func (v Variant) String() string {
	if s, ok := variantNames[v]; ok {
		return s
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// Variants lists every variant in a fixed order.
func Variants() []Variant {
	return []Variant{FixedPrediction, Standard, VarianceScaled, ZeroDivergence, Incremental}
}

// ParseVariant maps a short name ("fpa", "pc", "scaled", "zil", "ipc") to its Variant.
func ParseVariant(s string) (Variant, error) {
	for _, v := range Variants() {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown variant %q (want fpa, pc, scaled, zil or ipc)", s)
}

// fixedPredictions reports whether the variant freezes predictions and Jacobians.
func (v Variant) fixedPredictions() bool { return v == FixedPrediction }

// Engine chooses how the nodes run.
type Engine int

const (
	// Parallel runs every node in a goroutine of its own that talks to its neighbours
	// over channels.
	Parallel Engine = iota + 1
	// Sequential runs the same node rules one after another in the caller's goroutine:
	// the reference the parallel engine must equal bit for bit.
	Sequential
)

func (e Engine) String() string {
	switch e {
	case Parallel:
		return "parallel"
	case Sequential:
		return "sequential"
	}
	return fmt.Sprintf("Engine(%d)", int(e))
}

// ParseEngine maps "parallel" or "sequential" to its Engine.
func ParseEngine(s string) (Engine, error) {
	switch strings.ToLower(s) {
	case "parallel":
		return Parallel, nil
	case "sequential":
		return Sequential, nil
	}
	return 0, fmt.Errorf("unknown engine %q (want parallel or sequential)", s)
}

// Schedule chooses when a node computes.
type Schedule int

const (
	// Event computes only when a message brings news: a product whose cotangent is
	// exactly zero is skipped, one whose point and cotangent are bit-identical to the
	// last product's reuses its result, and a node whose state is the fixed point of its
	// update does nothing. Messages then say "zero" or "unchanged" without a payload.
	// Every skip is exact, so it equals Dense bit for bit. The default.
	Event Schedule = iota + 1
	// Dense computes every product at every step and sends every value in full: the
	// algorithms as written, and the reference Event is held to.
	Dense
)

func (s Schedule) String() string {
	switch s {
	case Event:
		return "event"
	case Dense:
		return "dense"
	}
	return fmt.Sprintf("Schedule(%d)", int(s))
}

// ParseSchedule maps "event" or "dense" to its Schedule.
func ParseSchedule(s string) (Schedule, error) {
	switch strings.ToLower(s) {
	case "event":
		return Event, nil
	case "dense":
		return Dense, nil
	}
	return 0, fmt.Errorf("unknown schedule %q (want event or dense)", s)
}

// Config describes the inference and learning of a network.
type Config struct {
	Variant Variant
	// Steps is T, the number of inference steps per batch (T >= 0; T >= 1 for
	// Incremental, whose T is also its number of optimiser steps per batch).
	Steps int
	// Gamma is the inference step size (> 0). Z-IL requires 1.
	Gamma float64
	// K is the hidden precision of VarianceScaled (> 0); other variants ignore it.
	K float64
	// Precisions optionally sets pi_1..pi_H of Standard and Incremental (len H, each
	// > 0); nil means 1.
	Precisions []float64
	// Loss is the loss at the output node; nil means layer.NLL.
	Loss layer.Loss
	// Engine is Parallel (the default when zero) or Sequential.
	Engine Engine
	// Schedule is Event (the default when zero) or Dense.
	Schedule Schedule
	// MaxBatch bounds the batch size (the message buffers are allocated for it);
	// 0 means 64. Larger batches are an error.
	MaxBatch int
	// Optimizer updates each layer's weights in Learn (T times per batch under
	// Incremental); Infer ignores it.
	Optimizer optim.Config
	// Observer, when not nil, sees every node's every step (see Observer).
	Observer Observer
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Loss == nil {
		out.Loss = layer.NLL{}
	}
	if out.Engine == 0 {
		out.Engine = Parallel
	}
	if out.Schedule == 0 {
		out.Schedule = Event
	}
	if out.MaxBatch == 0 {
		out.MaxBatch = 64
	}
	return out
}

// FieldError is a configuration value out of range. Field names the setting as the
// command's flags do ("steps", "gamma", "k", "precisions", ...), so that a caller can map
// it to its own name for it; Problem says what the value must be.
type FieldError struct {
	Field   string
	Value   any
	Problem string
}

// fieldLabels are the names Error gives fields that have a symbol of their own.
var fieldLabels = map[string]string{"steps": "steps T"}

func (e *FieldError) Error() string {
	label := e.Field
	if l, ok := fieldLabels[label]; ok {
		label = l
	}
	return fmt.Sprintf("pcnet: %s = %v: %s", label, e.Value, e.Problem)
}

func fieldErr(field string, v any, problem string) error {
	return &FieldError{Field: field, Value: v, Problem: problem}
}

// finitePositive reports whether v is a finite number > 0.
func finitePositive(v float64) bool { return v > 0 && !math.IsInf(v, 0) }

// Validate checks the configuration for a network with h hidden layers; a value out of
// range is a *FieldError. New and NewPart call it; callers that build a Config from
// their own settings (package spec) call it to check them in one place.
func (c *Config) Validate(h int) error {
	if _, ok := variantNames[c.Variant]; !ok {
		return fieldErr("variant", int(c.Variant), "unknown variant")
	}
	if c.Steps < 0 {
		return fieldErr("steps", c.Steps, "must be >= 0")
	}
	if c.Variant == Incremental && c.Steps < 1 {
		return fieldErr("steps", c.Steps, "incremental PC learns at its inference steps, so it needs T >= 1")
	}
	if !finitePositive(c.Gamma) {
		return fieldErr("gamma", c.Gamma, "must be a finite number > 0")
	}
	if c.Variant == ZeroDivergence && c.Gamma != 1 {
		return fieldErr("gamma", c.Gamma, "Z-IL runs with gamma 1")
	}
	if c.Variant == VarianceScaled && !finitePositive(c.K) {
		return fieldErr("k", c.K, "must be a finite number > 0")
	}
	if err := c.validatePrecisions(h); err != nil {
		return err
	}
	if c.Engine != Parallel && c.Engine != Sequential {
		return fieldErr("engine", int(c.Engine), "unknown engine")
	}
	if c.Schedule != Event && c.Schedule != Dense {
		return fieldErr("schedule", int(c.Schedule), "unknown schedule")
	}
	if c.MaxBatch < 1 {
		return fieldErr("max-batch", c.MaxBatch, "must be >= 1")
	}
	return nil
}

// ValidateGraph is Validate for a network on the layer graph g (NewGraph checks it so):
// the settings for g's H, then what the variant needs of a graph. Package spec calls it
// to check a run's graph in one place.
func (c *Config) ValidateGraph(g *graph.Graph) error {
	if err := c.Validate(g.H()); err != nil {
		return err
	}
	return c.validateGraph(g)
}

// validateGraph checks what the variant needs of a layer graph: incremental PC and Z-IL
// run on graphs without long skips only (Z-IL's update step H-l and iPC's exactness are
// stated for chains), and the precisions of Standard are one per hidden node already.
func (c *Config) validateGraph(g *graph.Graph) error {
	if len(g.Skips()) == 0 {
		return nil
	}
	switch c.Variant {
	case Incremental, ZeroDivergence:
		return fieldErr("variant", c.Variant.String(), fmt.Sprintf("%s runs on graphs without long skips (this one has %s)", c.Variant, graph.FormatSkips(g.Skips())))
	}
	return nil
}

func (c *Config) validatePrecisions(h int) error {
	if c.Precisions == nil {
		return nil
	}
	if c.Variant != Standard && c.Variant != Incremental {
		return fieldErr("precisions", c.Precisions, fmt.Sprintf("only the pc and ipc variants take per-node precisions, not %s", c.Variant))
	}
	if len(c.Precisions) != h {
		return fieldErr("precisions", c.Precisions, fmt.Sprintf("%d values for %d hidden nodes", len(c.Precisions), h))
	}
	for i, p := range c.Precisions {
		if !finitePositive(p) {
			return fieldErr("precisions", c.Precisions, fmt.Sprintf("pi_%d = %v: must be a finite number > 0", i+1, p))
		}
	}
	return nil
}

// precision returns pi_l of hidden node l (1..H) and 1 for the input and output nodes.
func (c *Config) precision(l, h int) float64 {
	switch {
	case l < 1 || l > h:
		return 1
	case c.Variant == VarianceScaled:
		return c.K
	case c.Precisions != nil:
		return c.Precisions[l-1]
	}
	return 1
}

// stepSize is the step size the hidden nodes integrate with.
func (c *Config) stepSize() float64 {
	if c.Variant == VarianceScaled {
		return c.Gamma / c.K
	}
	return c.Gamma
}
