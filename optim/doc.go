// Package optim implements the SGD and Adam optimisers with the update
// semantics of torch.optim (PyTorch 1.13, foreach=False), over flat
// parameter tensors of float64 or float32 values.
//
// # Per-tensor state
//
// Optimiser state lives in a [State] per parameter tensor rather than in one
// object over a whole model, because predictive-coding layer actors each own
// the parameters (and so the optimiser state) of their own layer, while the
// backprop trainer owns all of them. A [Config] describes the optimiser and
// [NewState] (or [Config.NewState] for float64) makes the state for one
// tensor; [State.Step] then updates the tensor in place from its gradient
// without allocating.
//
// # Matching PyTorch
//
// The arithmetic follows PyTorch's single-tensor kernels operation by
// operation, in the same order (Adam's addcdiv, for example, computes
// p + (-stepSize*m)/denom, not p - stepSize*(m/denom)), fuses a multiply-add
// exactly where PyTorch's AVX2 CPU kernels do, and computes the bias
// corrections beta**t correctly rounded, as C's pow does. The results are
// bitwise equal to PyTorch 1.13's float64 results on x86-64 with AVX2 (the
// tests check this against sequences PyTorch produced), and the same on
// every architecture, because math.FMA is exact everywhere and no other
// fusion is left to the compiler. PyTorch itself, on a CPU without FMA,
// differs from this by an ulp or so.
//
// # Float32
//
// A [State] of float32 follows PyTorch's float32 kernels: the scalars (the
// learning rate, momentum, the bias corrections and Adam's step size) are
// computed in float64 as for float64 and rounded to float32 where PyTorch
// passes them into a float32 operation, every tensor operation rounds in
// float32, and the fused multiply-adds round once. Go has no float32 FMA,
// so it is computed exactly from float64 (the product of two float32 values
// is exact there), with internal/vmath's FMA32 for the rare sums that land
// on a float32 tie (docs/design.md §6).
//
// Weight decay is the L2 term torch.optim.SGD and torch.optim.Adam add to
// the gradient (g + wd*p), not AdamW's decoupled decay.
//
// # Checkpoints
//
// [State.Steps], [State.Buffers] and [State.Restore] expose the step count
// and the buffers under PyTorch's state names ("momentum_buffer" for SGD,
// "exp_avg" and "exp_avg_sq" for Adam), so a checkpoint can store and
// restore them.
package optim
