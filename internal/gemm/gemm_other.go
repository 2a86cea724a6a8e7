//go:build !amd64 || purego

package gemm

// asmKernels are the assembly kernels this CPU can run: none without amd64 assembly.
func asmKernels() []microKernel { return nil }
