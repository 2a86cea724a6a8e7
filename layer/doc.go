// Package layer holds the mathematics of one weight layer of a pcnet network, as plain
// functions and small types that can be tested alone: the engines in pcnet and backprop
// are thin shells around them.
//
// Two kinds of layer satisfy Map, the interface a node of a layer graph owns its layer
// through (docs/design.md §11): Dense, today's f(v) = g(v Wᵀ + b), and PreAct, μPC's
// pre-activation map f(v) = [v +] a · phi(v) Wᵀ with a fixed multiplier a and no bias.
// NewPreActNet builds §11's residual network under the standard or the μPC
// parameterisation (Param). The losses are NLL and SquaredError, averaged over the batch,
// and their per-sample twins SampleCrossEntropy and SampleSquaredError, whose output error
// carries no 1/B (UpdateScale hands it to the weight updates).
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
// # Precision
//
// Every type and function here is generic over the element type T, float32 or float64
// (tensor.Float), on tensor.Matrix: one code path for both precisions (docs/design.md §6).
// Hyper-parameters (gamma, pi, a scale) stay float64 in the API and are rounded to T once
// per call, as PyTorch rounds a Python float that multiplies a float32 tensor; every
// operation on a tensor rounds in T, with no fused multiply-add. ErrorStats and loss
// values are float64. In float32 the products are sgemm (internal/gemm's float32 kernels,
// gonum's Sgemm, cblas_sgemm), and tanh and the sigmoid internal/vmath's float32 kernels.
//
// # Kernels
//
// Matrix products go through internal/gemm: packed, cache-blocked products with AVX-512
// or AVX2+FMA micro-kernels in assembly, chosen at start-up from the CPU, and a portable Go
// kernel elsewhere. UseKernel switches to gonum's own Dgemm (KernelGonum) or, in a build
// with the openblas tag, to single-threaded OpenBLAS (KernelOpenBLAS). Every product runs
// on the calling goroutine (gonum's Dgemm, which would spread a large product over all
// cores and fight the one-goroutine-per-layer parallelism of pcnet, is cut into tiles it
// computes serially), and the order of every sum depends only on the shapes, so results
// do not depend on GOMAXPROCS or on which goroutine computes them.
package layer
