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

// Validate reports the first invalid field of c, by name. It applies
// PyTorch's rules (including that Nesterov momentum needs a momentum and
// zero dampening) and also rejects NaN and infinite values, which PyTorch
// lets through.
func (c Config) Validate() error {
	if c.Kind != SGD && c.Kind != Adam {
		if c.Kind == 0 {
			return fmt.Errorf("optim: kind not set (want sgd or adam)")
		}
		return fmt.Errorf("optim: invalid kind %v (want sgd or adam)", c.Kind)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("optim: lr must be positive and finite, got %v", c.LR)
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		return fmt.Errorf("optim: weight decay must be >= 0 and finite, got %v", c.WeightDecay)
	}
	switch c.Kind {
	case SGD:
		if !(c.Momentum >= 0 && c.Momentum < 1) {
			return fmt.Errorf("optim: sgd momentum must be in [0, 1), got %v", c.Momentum)
		}
		if !(c.Dampening >= 0 && c.Dampening <= 1) {
			return fmt.Errorf("optim: sgd dampening must be in [0, 1], got %v", c.Dampening)
		}
		if c.Nesterov && (c.Momentum == 0 || c.Dampening != 0) {
			return fmt.Errorf("optim: sgd nesterov requires momentum > 0 and zero dampening, got momentum %v, dampening %v", c.Momentum, c.Dampening)
		}
		if c.Beta1 != 0 || c.Beta2 != 0 || c.Eps != 0 {
			return fmt.Errorf("optim: beta1, beta2 and eps are adam settings, set to %v, %v, %v for sgd", c.Beta1, c.Beta2, c.Eps)
		}
	case Adam:
		if !(c.Beta1 >= 0 && c.Beta1 < 1) {
			return fmt.Errorf("optim: adam beta1 must be in [0, 1), got %v", c.Beta1)
		}
		if !(c.Beta2 >= 0 && c.Beta2 < 1) {
			return fmt.Errorf("optim: adam beta2 must be in [0, 1), got %v", c.Beta2)
		}
		if !(c.Eps > 0) || math.IsInf(c.Eps, 0) {
			return fmt.Errorf("optim: adam eps must be positive and finite, got %v", c.Eps)
		}
		if c.Momentum != 0 || c.Dampening != 0 || c.Nesterov {
			return fmt.Errorf("optim: momentum, dampening and nesterov are sgd settings, set to %v, %v, %v for adam", c.Momentum, c.Dampening, c.Nesterov)
		}
	}
	return nil
}
