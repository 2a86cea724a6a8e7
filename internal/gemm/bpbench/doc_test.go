// Package bpbench_test times one backpropagation training step of pcnet's reference MLPs
// with each matrix-product kernel of package layer, in float64 and float32, for
// comparison with PyTorch (see bench/torch/run_torch_mlp.sh). It holds tests only: it
// imports layer, backprop and optim, which internal/gemm must not.
package bpbench_test
