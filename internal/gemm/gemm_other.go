//go:build !amd64 || purego

package gemm

// asmKernels are the float64 assembly kernels this CPU can run: none without amd64
// assembly.
func asmKernels() []microKernel[float64] { return nil }

// asmKernels32 are the float32 assembly kernels this CPU can run: none.
func asmKernels32() []microKernel[float32] { return nil }

// peakLoop is an FMA peak loop (see gemm_amd64.go).
type peakLoop struct {
	name      string
	precision string
	flops     int
	run       func(n int)
}

// peakLoops are the FMA peak loops this CPU can run: none without amd64 assembly.
func peakLoops() []peakLoop { return nil }
