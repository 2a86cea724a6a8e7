package layer

import (
	"fmt"
	"math/rand/v2"

	"github.com/pcnet/pcnet/tensor"
)

// Sizes returns the widths of an MLP with hidden layers of the given widths between in
// and out units: [in, hidden..., out].
func Sizes(in int, hidden []int, out int) []int {
	s := make([]int, 0, len(hidden)+2)
	s = append(s, in)
	s = append(s, hidden...)
	return append(s, out)
}

// NewMLP builds the weight layers of an MLP with the given node widths (len(sizes) >= 2):
// layer l maps sizes[l] to sizes[l+1] with activation hidden, except the last, which is
// the identity (the logits). The layers are initialised in order with InitPyTorch from
// rng, so BP and PC networks built from the same seed start from the same weights (and
// float32 networks from those weights rounded, see InitPyTorch).
func NewMLP[T tensor.Float](sizes []int, hidden Activation, rng *rand.Rand) ([]*Dense[T], error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("layer: an MLP needs at least an input and an output width, got %v", sizes)
	}
	layers := make([]*Dense[T], len(sizes)-1)
	for l := range layers {
		act := hidden
		if l == len(layers)-1 {
			act = Identity
		}
		d, err := NewDense[T](sizes[l], sizes[l+1], act)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		d.InitPyTorch(rng)
		layers[l] = d
	}
	return layers, nil
}

// CloneAll deep-copies a stack of layers.
func CloneAll[T tensor.Float](layers []*Dense[T]) []*Dense[T] {
	out := make([]*Dense[T], len(layers))
	for i, d := range layers {
		out[i] = d.Clone()
	}
	return out
}
