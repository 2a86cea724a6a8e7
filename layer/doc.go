// Package layer holds the mathematics of one dense layer of a pcnet network, as plain
// functions and small types that can be tested alone: the engines in pcnet and backprop
// are thin shells around them.
//
// # Notation
//
// A weight layer maps a batch v (B x In, row-major) to a = v Wᵀ + b (B x Out) and to
// f(v) = g(a) for an elementwise activation g. Its vector-Jacobian products at v with a
// cotangent c (B x Out) are built from the gated cotangent δ = g'(a) ⊙ c:
//
//	input VJP   J(v)ᵀ c = δ W          (B x In)
//	weight VJP  dW      = δᵀ v         (Out x In)
//	bias VJP    db      = colsum(δ)    (Out)
//
// Forward returns g'(a) beside g(a), so that the Jacobian at a fixed point (the
// feed-forward values of FPA-PC, for instance) is paid for once and reused at every step.
//
// # Sign convention
//
// Predictive-coding errors are negative gradients: the output error of a loss E at
// logits z is -dE/dz (see Loss.NegGrad), and a weight update +α dW(e) is a step of
// gradient descent. The per-variant inference rules in rules.go follow that convention.
//
// # Shapes and allocation
//
// Every function writes into a destination the caller owns and never allocates, so a
// steady-state inference step allocates nothing. Destinations must already have the right
// shape: a mismatch is a programmer error and panics with a *ShapeError that names both
// shapes, in the manner of gonum/mat.
//
// # Kernels
//
// Matrix products go through gonum's BLAS interface (blas64). gonum's own Dgemm spreads a
// large product over all cores by itself, which fights the one-goroutine-per-layer
// parallelism of the pcnet engine, so the products here are cut into tiles small enough
// that gonum computes each of them on the calling goroutine. The tiling is fixed, so the
// result does not depend on GOMAXPROCS.
package layer
