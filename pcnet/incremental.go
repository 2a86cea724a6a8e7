package pcnet

import (
	"github.com/pcnet/pcnet/layer"
	"gonum.org/v1/gonum/mat"
)

// integrateIncremental is integrate under iPC (DESIGN §8). At every step t < T the node
// takes the products of step t at the weights of step t (the weight update at its point
// x_l(t) and, for a hidden node, the input VJP), moves its state, and only then takes
// its optimiser step, so that the prediction it sends up for step t+1 is made with the
// new weights. The input node has no state to move but learns and sends a prediction
// like the others: x_0 is clamped, theta_0 is not. grad sums the steps' updates.
//
// The optimiser steps at every step, also where Theorem 1 makes the update exactly
// zero: Adam's and momentum's steps along a zero gradient still move the weights, and
// iPC is defined by a step per inference step. Infer (learning false) runs the same
// dynamics at frozen weights: standard PC's inference, with the steps' updates summed.
func (n *node) integrateIncremental(t int, up *mat.Dense) {
	w := n.w
	update, advance := n.acts(t)
	if !update {
		return
	}
	n.layer.WeightVJP(n.step.W, n.step.B, n.point(), w.delta)
	n.stats.VJPs++
	if advance {
		n.layer.InputVJP(w.jte, w.delta)
		n.stats.VJPs++
		layer.StateStep(w.x, w.e, w.jte, n.pi, n.gamma)
	}
	n.grad.Add(n.step)
	if n.learning {
		n.descend(n.step)
	}
	if up != nil {
		n.layer.Forward(up, w.deriv, n.point())
	}
}
