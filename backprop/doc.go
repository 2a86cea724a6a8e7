// Package backprop is the backpropagation baseline that every predictive-coding variant
// of pcnet is measured against. It runs the same layer mathematics (package layer) in
// one forward and one backward wave:
//
//	g_{H+1} = dE/dz,  g_l = J_l(mu_l)ᵀ g_{l+1},  grad W_l = dW_l(mu_l; g_{l+1}).
//
// Net holds the weights and a workspace per batch shape, so a training step allocates
// nothing once a batch of that size has been seen.
//
// GraphNet is backpropagation on a layer graph (docs/design.md §11): a graph.Graph
// (chain, residual, long skips) with a layer.Map per node, Dense or §11's pre-activation
// maps. On a chain of Dense maps it computes Net's gradients bit for bit; Net stays as it
// is, the chain's own type, because the PC engines and the training loop hold Dense layers
// today. testdata/graph_torch.py is an independent PyTorch implementation of §11 that the
// tests compare every shape's gradients with, to 1e-10 in float64.
package backprop
