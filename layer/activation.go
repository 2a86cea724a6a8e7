package layer

import (
	"fmt"
	"strings"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
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

// applyActivation replaces every pre-activation in a by g(a) and, when deriv is not nil,
// writes g'(a) to the same position of deriv. Tanh and the sigmoid are the vectorised
// kernels of internal/vmath (within 2 ulp of package math, and bit-identical on every CPU
// path; in float32 their results rounded to float32); their derivatives are taken from
// g(a), which saves a transcendental per element.
func applyActivation[T tensor.Float](g Activation, a, deriv []T) {
	switch g {
	case Identity:
		for i := range deriv {
			deriv[i] = 1
		}
	case Tanh:
		if is32[T]() {
			vmath.TanhInPlace32(as32(a), as32(deriv))
		} else {
			vmath.TanhInPlace(as64(a), as64(deriv))
		}
	case ReLU:
		for i, v := range a {
			var d T
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
		if is32[T]() {
			vmath.SigmoidInPlace32(as32(a), as32(deriv))
		} else {
			vmath.SigmoidInPlace(as64(a), as64(deriv))
		}
	default:
		panic(fmt.Sprintf("layer: unknown activation %d", int(g)))
	}
}
