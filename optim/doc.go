// Package optim implements the SGD and Adam optimisers with the update
// semantics of torch.optim (PyTorch 1.13, foreach=False), over flat
// []float64 parameter tensors.
//
// # Per-tensor state
//
// Optimiser state lives in a [State] per parameter tensor rather than in one
// object over a whole model, because predictive-coding layer actors each own
// the parameters (and so the optimiser state) of their own layer, while the
// backprop trainer owns all of them. A [Config] describes the optimiser and
// [Config.NewState] makes the state for one tensor; [State.Step] then updates
// the tensor in place from its gradient without allocating.
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
