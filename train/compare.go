package train

import (
	"math"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// Agreement measures how close an update is to a reference update.
type Agreement struct {
	Cosine   float64 // cos of the angle between them (NaN if either is zero)
	RelErr   float64 // ||got - want|| / ||want||
	NormGot  float64
	NormWant float64
}

// NormRatio is NormGot / NormWant, the update's size relative to the reference's (NaN
// when the reference is zero): 0 for a layer that does not learn.
func (a Agreement) NormRatio() float64 {
	if a.NormWant == 0 {
		return math.NaN()
	}
	return a.NormGot / a.NormWant
}

// Comparison is an Agreement per weight layer and over all layers concatenated.
type Comparison struct {
	All    Agreement
	Layers []Agreement
}

// Compare compares got with want layer by layer (weights and biases together) and over
// all layers concatenated.
func Compare[T tensor.Float](got, want []*layer.Grad[T]) Comparison {
	var c Comparison
	var dot, gg, ww, dd float64
	for l := range got {
		var a acc
		gp, wp := got[l].Params(), want[l].Params()
		for i := range gp {
			add(&a, gp[i], wp[i])
		}
		c.Layers = append(c.Layers, a.agreement())
		dot, gg, ww, dd = dot+a.dot, gg+a.gg, ww+a.ww, dd+a.dd
	}
	c.All = acc{dot, gg, ww, dd}.agreement()
	return c
}

type acc struct{ dot, gg, ww, dd float64 }

// add accumulates in float64 whatever the updates' precision, so that a float32
// update's agreement is measured, not rounded.
func add[T tensor.Float](a *acc, g, w []T) {
	for i := range g {
		gi, wi := float64(g[i]), float64(w[i])
		a.dot += gi * wi
		a.gg += gi * gi
		a.ww += wi * wi
		d := gi - wi
		a.dd += d * d
	}
}

func (a acc) agreement() Agreement {
	ng, nw := math.Sqrt(a.gg), math.Sqrt(a.ww)
	cos := math.NaN()
	if ng > 0 && nw > 0 {
		cos = a.dot / (ng * nw)
	}
	return Agreement{Cosine: cos, RelErr: math.Sqrt(a.dd) / nw, NormGot: ng, NormWant: nw}
}
