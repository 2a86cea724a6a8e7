package optim

import (
	"fmt"
	"math"
	"strings"
)

// Kind selects the optimisation algorithm. The zero Kind is deliberately
// invalid, so that a Config whose kind was never set fails [Config.Validate].
type Kind int

const (
	// SGD is stochastic gradient descent with optional momentum, dampening
	// and Nesterov momentum, as torch.optim.SGD.
	SGD Kind = iota + 1
	// Adam is torch.optim.Adam without amsgrad.
	Adam
)

// String returns "sgd" or "adam", the names [ParseKind] accepts.
func (k Kind) String() string {
	switch k {
	case SGD:
		return "sgd"
	case Adam:
		return "adam"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses "sgd" or "adam" (case-insensitively).
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sgd":
		return SGD, nil
	case "adam":
		return Adam, nil
	}
	return 0, fmt.Errorf("optim: unknown optimiser %q (want sgd or adam)", s)
}

// MarshalText implements encoding.TextMarshaler, so a Kind reads well in
// JSON configs and works with flag.TextVar.
func (k Kind) MarshalText() ([]byte, error) {
	if k != SGD && k != Adam {
		return nil, fmt.Errorf("optim: cannot marshal invalid %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using [ParseKind].
func (k *Kind) UnmarshalText(text []byte) error {
	parsed, err := ParseKind(string(text))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// Adam's defaults, those of torch.optim.Adam.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// Config describes an optimiser. Fields that belong to the other kind must be
// left zero: [Config.Validate] rejects, say, a momentum set on Adam rather
// than silently ignoring it.
type Config struct {
	Kind Kind
	// LR is the learning rate; it must be positive and finite.
	LR float64

	// Momentum, in [0, 1), is SGD's momentum factor; 0 disables momentum.
	Momentum float64
	// Dampening, in [0, 1], scales the gradient added to the momentum
	// buffer by 1-Dampening (PyTorch's default is 0).
	Dampening float64
	// Nesterov selects Nesterov momentum; like PyTorch it requires
	// Momentum > 0 and Dampening == 0.
	Nesterov bool

	// Beta1 and Beta2, in [0, 1), are Adam's decay rates for the first and
	// second moment estimates, and Eps (> 0) is added to the denominator.
	// Use [DefaultAdam] or [Config.WithDefaults] for PyTorch's defaults.
	Beta1, Beta2, Eps float64

	// WeightDecay (>= 0) adds WeightDecay*param to the gradient before the
	// update, as torch.optim.SGD and torch.optim.Adam do (L2, not AdamW).
	WeightDecay float64
}

// DefaultAdam returns Adam with learning rate lr and PyTorch's default betas
// and eps.
func DefaultAdam(lr float64) Config {
	return Config{Kind: Adam, LR: lr, Beta1: DefaultBeta1, Beta2: DefaultBeta2, Eps: DefaultEps}
}

// WithDefaults returns c with PyTorch's defaults in Adam's zero Beta1, Beta2
// and Eps fields; for SGD it returns c unchanged. Because zero means "use the
// default" here, a deliberate Beta1 of 0 must be set directly, without
// calling WithDefaults.
func (c Config) WithDefaults() Config {
	if c.Kind != Adam {
		return c
	}
	if c.Beta1 == 0 {
		c.Beta1 = DefaultBeta1
	}
	if c.Beta2 == 0 {
		c.Beta2 = DefaultBeta2
	}
	if c.Eps == 0 {
		c.Eps = DefaultEps
	}
	return c
}

// FieldError is a setting of a Config out of range. Field names it as the command's
// flags do ("lr", "weight-decay", "momentum", "dampening", "beta1", "beta2", "eps"), or
// is "optimizer" for the kind and for settings that contradict each other, so that a
// caller (package spec) can map it to its own name; Problem says what the value must be.
type FieldError struct {
	Field   string
	Value   any
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("optim: %s = %v: %s", e.Field, e.Value, e.Problem)
}

func fieldErr(field string, v any, problem string) error {
	return &FieldError{Field: field, Value: v, Problem: problem}
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// unitOpen reports whether v is in [0, 1).
func unitOpen(v float64) bool { return v >= 0 && v < 1 }

// Validate reports the first invalid field of c as a *FieldError. It applies PyTorch's
// rules (including that Nesterov momentum needs a momentum and zero dampening) and also
// rejects NaN and infinite values, which PyTorch lets through.
func (c Config) Validate() error {
	switch {
	case c.Kind == 0:
		return fieldErr("optimizer", c.Kind, "kind not set (want sgd or adam)")
	case c.Kind != SGD && c.Kind != Adam:
		return fieldErr("optimizer", c.Kind, "want sgd or adam")
	case !(c.LR > 0 && finite(c.LR)):
		return fieldErr("lr", c.LR, "must be a finite number > 0")
	case !(c.WeightDecay >= 0 && finite(c.WeightDecay)):
		return fieldErr("weight-decay", c.WeightDecay, "must be a finite number >= 0")
	}
	if c.Kind == Adam {
		return c.validateAdam()
	}
	switch {
	case !unitOpen(c.Momentum):
		return fieldErr("momentum", c.Momentum, "must be in [0, 1)")
	case !(c.Dampening >= 0 && c.Dampening <= 1):
		return fieldErr("dampening", c.Dampening, "must be in [0, 1]")
	case c.Nesterov && (c.Momentum == 0 || c.Dampening != 0):
		return fieldErr("optimizer", c.Kind, fmt.Sprintf("sgd nesterov requires momentum > 0 and zero dampening, got momentum %v, dampening %v", c.Momentum, c.Dampening))
	case c.Beta1 != 0 || c.Beta2 != 0 || c.Eps != 0:
		return fieldErr("optimizer", c.Kind, fmt.Sprintf("beta1, beta2 and eps are adam settings, set to %v, %v, %v for sgd", c.Beta1, c.Beta2, c.Eps))
	}
	return nil
}

func (c Config) validateAdam() error {
	switch {
	case !unitOpen(c.Beta1):
		return fieldErr("beta1", c.Beta1, "must be in [0, 1)")
	case !unitOpen(c.Beta2):
		return fieldErr("beta2", c.Beta2, "must be in [0, 1)")
	case !(c.Eps > 0 && finite(c.Eps)):
		return fieldErr("eps", c.Eps, "must be a finite number > 0")
	case c.Momentum != 0 || c.Dampening != 0 || c.Nesterov:
		return fieldErr("optimizer", c.Kind, fmt.Sprintf("momentum, dampening and nesterov are sgd settings, set to %v, %v, %v for adam", c.Momentum, c.Dampening, c.Nesterov))
	}
	return nil
}
