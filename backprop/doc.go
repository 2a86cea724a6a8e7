// Package backprop is the backpropagation baseline that every predictive-coding variant
// of pcnet is measured against. It runs the same layer mathematics (package layer) in
// one forward and one backward wave:
//
//	g_{H+1} = dE/dz,  g_l = J_l(mu_l)ᵀ g_{l+1},  grad W_l = dW_l(mu_l; g_{l+1}).
//
// Net holds the weights and a workspace per batch shape, so a training step allocates
// nothing once a batch of that size has been seen.
package backprop
