package checkpoint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// UpdatesFormat is the "format" metadata of the file SaveUpdates writes.
const UpdatesFormat = "pcnet-compare/1"

// Updates is one batch, the weights, backprop's gradients on it and every PC variant's
// weight updates: what pcnet compare -dump writes, for a check in another framework.
type Updates[T tensor.Float] struct {
	Sizes      []int
	Activation string
	Loss       string
	Split      string
	BatchIndex int // the batch's index in the split, in batches of its size
	First      int // the index of its first image

	X      *tensor.Matrix[T]
	Labels []int
	Maps   []layer.Map[T]   // one per node 0..H: dense layers, or a graph's pre-activation maps
	Grads  []*layer.Grad[T] // backprop's dE/dtheta, the gradient's own sign

	Variants []VariantUpdates[T]
}

// VariantUpdates are one variant's settings and weight updates (PC's sign: a
// negative-gradient estimate).
type VariantUpdates[T tensor.Float] struct {
	Name     string
	Steps    int
	Gamma, K float64
	Updates  []*layer.Grad[T]
}

// UpdatesOf returns what pcnet compare -dump writes of its report r.
func UpdatesOf[T tensor.Float](r *train.UpdateReport[T]) *Updates[T] {
	u := &Updates[T]{
		Sizes: r.Network.Sizes, Activation: r.Network.Activation, Loss: r.Network.Loss,
		Split: r.Batch.Split, BatchIndex: r.Batch.Index, First: r.Batch.First,
		X: r.X, Labels: r.Labels, Maps: r.Maps, Grads: r.Grads,
	}
	for _, v := range r.Variants {
		u.Variants = append(u.Variants, VariantUpdates[T]{Name: v.Variant, Steps: v.Steps, Gamma: v.Gamma, K: v.K, Updates: v.Updates})
	}
	return u
}

// SaveUpdates writes u to path atomically: "input" [B, n_0], "labels" [B], the weights
// ("layers.<l>.weight", "layers.<l>.bias"), backprop's gradients ("bp.layers.<l>...")
// and every variant's updates ("<variant>.layers.<l>..."), in T's dtype (labels stay
// F64: they are integers).
func SaveUpdates[T tensor.Float](path string, u *Updates[T]) error {
	rows, cols := u.X.Dims()
	input := make([]T, 0, rows*cols)
	for i := 0; i < rows; i++ {
		input = append(input, u.X.Row(i)...)
	}
	lab := make([]float64, len(u.Labels))
	for i, y := range u.Labels {
		lab[i] = float64(y)
	}
	f := &safetensors.File{
		Metadata: map[string]string{
			"format":      UpdatesFormat,
			"precision":   spec.PrecisionOf[T]().String(),
			"sizes":       FormatInts(u.Sizes),
			"activation":  u.Activation,
			"loss":        u.Loss,
			"split":       u.Split,
			"batch_index": strconv.Itoa(u.BatchIndex),
			"first":       strconv.Itoa(u.First),
			"signs":       "bp.*: gradients dE/dtheta; <variant>.*: PC weight updates (negative-gradient estimates)",
		},
		Tensors: []safetensors.Tensor{
			safetensors.NewTensor("input", []int{rows, cols}, input),
			{Name: "labels", Shape: []int{len(u.Labels)}, Data: lab},
		},
	}
	// A map without a bias (a pre-activation map, docs/design.md §11) writes its
	// weight alone.
	add := func(prefix string, l int, out, in int, p [2][]T) {
		f.Tensors = append(f.Tensors, safetensors.NewTensor(fmt.Sprintf("%slayers.%d.weight", prefix, l), []int{out, in}, slices.Clone(p[0][:out*in])))
		if len(p[1]) > 0 {
			f.Tensors = append(f.Tensors, safetensors.NewTensor(fmt.Sprintf("%slayers.%d.bias", prefix, l), []int{out}, slices.Clone(p[1])))
		}
	}
	for l, m := range u.Maps {
		add("", l, m.Out(), m.In(), m.Params())
		add("bp.", l, m.Out(), m.In(), u.Grads[l].Params())
	}
	var names []string
	for _, v := range u.Variants {
		names = append(names, v.Name)
		f.Metadata[v.Name+".steps"] = strconv.Itoa(v.Steps)
		f.Metadata[v.Name+".gamma"] = FormatFloat(v.Gamma)
		f.Metadata[v.Name+".k"] = FormatFloat(v.K)
		for l, g := range v.Updates {
			add(v.Name+".", l, u.Maps[l].Out(), u.Maps[l].In(), g.Params())
		}
	}
	f.Metadata["variants"] = strings.Join(names, ",")
	return safetensors.WriteFileAtomic(path, f)
}
