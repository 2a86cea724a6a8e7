package layer

import (
	"fmt"
	"strings"

	"github.com/pcnet/pcnet/internal/vmath"
)

// Activation is an elementwise nonlinearity g.
type Activation int

// The activations pcnet offers.
const (
	Identity Activation = iota
	Tanh
	ReLU
	Sigmoid
)

var activationNames = [...]string{Identity: "identity", Tanh: "tanh", ReLU: "relu", Sigmoid: "sigmoid"}

func (a Activation) String() string {
	if a < 0 || int(a) >= len(activationNames) {
		return fmt.Sprintf("Activation(%d)", int(a))
	}
	return activationNames[a]
}

// ParseActivation maps a name ("tanh", "relu", "sigmoid", "identity") to its Activation.
func ParseActivation(s string) (Activation, error) {
	for i, n := range activationNames {
		if strings.EqualFold(s, n) {
			return Activation(i), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want one of %s)", s, strings.Join(activationNames[:], ", "))
}

// apply replaces every pre-activation in a by g(a) and, when deriv is not nil, writes
// g'(a) to the same position of deriv. Tanh and the sigmoid are the vectorised kernels of
// internal/vmath (within 2 ulp of package math, and bit-identical on every CPU path); their
// derivatives are taken from g(a), which saves a transcendental per element.
func (g Activation) apply(a, deriv []float64) {
	switch g {
	case Identity:
		if deriv != nil {
			for i := range deriv {
				deriv[i] = 1
			}
		}
	case Tanh:
		vmath.TanhInPlace(a, deriv)
	case ReLU:
		for i, v := range a {
			d := 0.0
			if v > 0 {
				d = 1
			} else {
				a[i] = 0
			}
			if deriv != nil {
				deriv[i] = d
			}
		}
	case Sigmoid:
		vmath.SigmoidInPlace(a, deriv)
	default:
		panic(fmt.Sprintf("layer: unknown activation %d", int(g)))
	}
}
