package pcnet

import (
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// integrateIncremental is integrate under iPC (docs/design.md §8). At every step t < T the node
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
//
// Under the event schedule the products of a zero cotangent are skipped (at t = 0, every
// node below the top, whose error above is still zero): the update and the input VJP are
// then zero, and adding a zero update to the sum changes no bit. Nothing else is skipped
// or reused: the weights move at every step, and with them every Jacobian and prediction.
func (n *node[T]) integrateIncremental(t int, up *tensor.Matrix[T]) channels.Payload {
	w := n.w
	update, advance := n.acts(t)
	if !update {
		return channels.Unchanged
	}
	k := &n.known
	zero := n.event && k.cotZero
	if zero {
		n.step.Zero()
		n.stats.SkippedVJPs++
	} else {
		n.weightUpdate(n.step)
	}
	if advance {
		if zero {
			k.jteNews = n.zeroInputVJP()
		} else {
			n.inputVJP()
			k.jteNews = true
		}
		// On a graph with long skips (docs/design.md §11) the whole cotangent of x_l adds
		// the skip children's errors to the input VJP, as under standard PC.
		cotZero, _ := n.cotangent()
		if !(n.event && k.eZero && cotZero) { // else x - gamma (pi·(+0) - 0) is x
			layer.StateStep(w.x, w.e, n.sumBuffer(), n.pi, n.gamma)
			k.xMoved = true
		}
	}
	if !zero {
		n.grad.Add(n.step)
	}
	if n.learning {
		n.descend(n.step)
	}
	k.jteValid, k.deltaOld = false, true
	if up != nil {
		n.m.ForwardAt(up, w.at, n.point())
		k.gated = false
		return channels.Full
	}
	return channels.Unchanged
}
