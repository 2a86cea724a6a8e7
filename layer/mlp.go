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

// AsMaps returns the layers as maps (the same layers, not copies), for the code that
// takes any layer.Map: a chain of Dense layers, or PreAct layers, as a layer graph's maps.
func AsMaps[T tensor.Float, M Map[T]](layers []M) []Map[T] {
	maps := make([]Map[T], len(layers))
	for l, d := range layers {
		maps[l] = d
	}
	return maps
}

// AsDense returns the maps as Dense layers (the same layers) when every map is one, and
// nil otherwise: what code that runs chains of Dense layers only reads of a graph's maps.
func AsDense[T tensor.Float](maps []Map[T]) []*Dense[T] {
	out := make([]*Dense[T], len(maps))
	for l, m := range maps {
		d, ok := m.(*Dense[T])
		if !ok {
			return nil
		}
		out[l] = d
	}
	return out
}
