package cluster

import (
	"fmt"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// A graph run across workers (docs/design.md §9, §11): the setup carries the layer
// graph as spec.Run's Arch and Skips and the maps' kind as Param and Activation (dense
// layers for the chain under the standard parameterisation, spec.Run.Dense; else
// layer.PreAct maps with μPC's or unit multipliers, weight only). Each worker builds the
// maps of its own nodes alone from them (mapsOf) and fills in the weights the setup
// carries. A skip that crosses workers is a link like any other (natslink, by edge id).

// mapDesc is what a worker builds of a map before its weights: the kind, the widths, the
// activation, and for a pre-activation map its multiplier and identity skip.
type mapDesc struct {
	dense   bool
	in, out int
	act     layer.Activation
	scale   float64
	skip    bool
}

// descAt is map l of run n on g: a dense layer for a run of dense layers (n.Dense()),
// with the activation on every layer but the readout; else §11's pre-activation map as
// layer.PreActNet makes it (map 0 without activation, the identity skip inside the hidden
// layers of a residual network, Param's multiplier).
func descAt(n *spec.Run, g *graph.Graph, l int) mapDesc {
	h, widths := g.H(), g.Widths()
	d := mapDesc{dense: n.Dense(), in: widths[l], out: widths[l+1], act: n.Activation}
	if d.dense {
		if l == h {
			d.act = layer.Identity
		}
		return d
	}
	if l == 0 {
		d.act = layer.Identity
	}
	d.scale, d.skip = n.Param.Multiplier(l, h+1, widths[l]), g.Shape() == graph.Residual && l > 0 && l < h
	return d
}

// descOf describes a map that a worker can build (ok false for any other kind).
func descOf[T tensor.Float](m layer.Map[T]) (d mapDesc, ok bool) {
	switch m := m.(type) {
	case *layer.Dense[T]:
		return mapDesc{dense: true, in: m.In(), out: m.Out(), act: m.Act}, true
	case *layer.PreAct[T]:
		return mapDesc{in: m.In(), out: m.Out(), act: m.Act, scale: m.Scale, skip: m.Skip}, true
	}
	return mapDesc{}, false
}

// build makes the map with zero weights.
func build[T tensor.Float](d mapDesc) (layer.Map[T], error) {
	if d.dense {
		return layer.NewDense[T](d.in, d.out, d.act)
	}
	return layer.NewPreAct[T](d.in, d.out, d.act, d.scale, d.skip)
}

// mapsOf builds the maps of nodes lo..min(hi, H) of run n on its graph g, with zero
// weights; only those are allocated.
func mapsOf[T tensor.Float](n *spec.Run, g *graph.Graph, lo, hi int) ([]layer.Map[T], error) {
	var out []layer.Map[T]
	for l := lo; l <= min(hi, g.H()); l++ {
		m, err := build[T](descAt(n, g, l))
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// describeNet finds the spec.Run fields that describe maps on g (Activation, Param; Arch
// and Skips are g's) and checks that the maps are exactly what the workers build from
// them: the same kind, widths, activation, multiplier and identity skip for every node,
// so that a worker computes with the coordinator's maps. Its error names the first map
// that differs.
func describeNet[T tensor.Float](g *graph.Graph, maps []layer.Map[T]) (act layer.Activation, param layer.Param, err error) {
	if len(maps) != g.H()+1 {
		return 0, 0, fmt.Errorf("cluster: %d maps for %v, want %d (one per node 0..H)", len(maps), g, g.H()+1)
	}
	descs := make([]mapDesc, len(maps))
	for l, m := range maps {
		d, ok := descOf(m)
		if !ok {
			return 0, 0, fmt.Errorf("cluster: map %d is a %T; workers build dense and pre-activation maps", l, m)
		}
		descs[l] = d
		if !d.dense && d.scale != 1 {
			param = layer.MuPC
		}
	}
	// The hidden activation: a dense chain's first layer's, a pre-activation network's
	// second map's (map 0 has none).
	act = descs[0].act
	if !descs[0].dense {
		act = descs[1].act
	}
	n := &spec.Run{Activation: act, Param: param, Arch: g.Shape()}
	if descs[0].dense {
		n.Arch = graph.Chain
	}
	for l, d := range descs {
		if want := descAt(n, g, l); d != want {
			return 0, 0, fmt.Errorf("cluster: map %d (%+v) is not what a worker builds for a %s %s network (%+v)", l, d, n.Arch, param, want)
		}
	}
	return act, param, nil
}
