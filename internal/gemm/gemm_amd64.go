//go:build amd64 && !purego

package gemm

//go:generate go run ./asmgen

import "golang.org/x/sys/cpu"

// The packing and vector kernels need AVX2 and FMA; the 8x16 and 8x32 micro-kernels need
// AVX-512F besides (x/sys/cpu also checks that the OS saves the wider registers).
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
)

func init() {
	switch {
	case hasAVX512:
		kernel64, kernel32 = avx512Kernel, avx512Kernel32
	case hasAVX2:
		kernel64, kernel32 = avx2Kernel, avx2Kernel32
	}
}

// The tiles of a precision share its vector kernels (gemv_amd64.s, gemv32_amd64.s), but for
// float32's axpy, which with AVX-512 runs on zmm registers (axpy32AVX512): the same sums,
// 13-14% faster at 1x1024x1024 (BenchmarkVector, two runs on a shared Zen 4). A zmm
// dots would sum in sixteen lanes, another order, for 7% there and nothing at 1x256x256,
// and a zmm rank1 measured no faster beyond noise; without them the AVX2 and AVX-512
// kernels of a precision give the same bits (TestAVX2MatchesAVX512).
var (
	avx2Kernel = microKernel[float64]{
		name: "avx2-6x8", mr: 6, nr: 8, fusedMerge: true, full: full6x8,
		packCopy: packCopyAVX2, packInterleave: packInterleaveAVX2,
		dots: dotsAsm, axpy: axpyAsm, rank1: rank1Asm, dotsLanes: 4,
	}
	avx512Kernel = microKernel[float64]{
		name: "avx512-8x16", mr: 8, nr: 16, fusedMerge: true, full: full8x16,
		packCopy: packCopyAVX2, packInterleave: packInterleaveAVX2,
		dots: dotsAsm, axpy: axpyAsm, rank1: rank1Asm, dotsLanes: 4,
	}
	avx2Kernel32 = microKernel[float32]{
		name: "avx2-6x16-f32", mr: 6, nr: 16, fusedMerge: true, full: full6x16f32,
		packCopy: packCopyAVX2f32, packInterleave: packInterleaveAVX2f32,
		dots: dots32Asm, axpy: axpy32Asm, rank1: rank132Asm, dotsLanes: 8,
	}
	avx512Kernel32 = microKernel[float32]{
		name: "avx512-8x32-f32", mr: 8, nr: 32, fusedMerge: true, full: full8x32f32,
		packCopy: packCopyAVX2f32, packInterleave: packInterleaveAVX2f32,
		dots: dots32Asm, axpy: axpy32Asm512, rank1: rank132Asm, dotsLanes: 8,
	}
)

// asmKernels are the float64 assembly kernels this CPU can run, for tests and benchmarks.
func asmKernels() []microKernel[float64] {
	var ks []microKernel[float64]
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

// asmKernels32 are the float32 assembly kernels this CPU can run.
func asmKernels32() []microKernel[float32] {
	var ks []microKernel[float32]
	if hasAVX2 {
		ks = append(ks, avx2Kernel32)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel32)
	}
	return ks
}

// kernel6x8 computes the 6x8 tile c = alpha*(a·b) + beta*c from packed slivers (see
// microKernel), in twelve ymm accumulators. c is not read when beta is zero.
//
//go:noescape
func kernel6x8(kc int, a, b, c *float64, ldc int, alpha, beta float64)

// kernel8x16 is kernel6x8's AVX-512 sibling: an 8x16 tile in sixteen zmm accumulators.
//
//go:noescape
func kernel8x16(kc int, a, b, c *float64, ldc int, alpha, beta float64)

// kernel6x16f32 is kernel6x8 in float32: a 6x16 tile in twelve ymm accumulators.
//
//go:noescape
func kernel6x16f32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// kernel8x32f32 is kernel8x16 in float32: an 8x32 tile in sixteen zmm accumulators.
//
//go:noescape
func kernel8x32f32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

func full6x8(kc int, a, b, c []float64, ldc int, alpha, beta float64) {
	_, _, _ = a[6*kc-1], b[8*kc-1], c[5*ldc+7] // the assembly reads and writes this far
	kernel6x8(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

func full8x16(kc int, a, b, c []float64, ldc int, alpha, beta float64) {
	_, _, _ = a[8*kc-1], b[16*kc-1], c[7*ldc+15]
	kernel8x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

func full6x16f32(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	_, _, _ = a[6*kc-1], b[16*kc-1], c[5*ldc+15]
	kernel6x16f32(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

func full8x32f32(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	_, _, _ = a[8*kc-1], b[32*kc-1], c[7*ldc+31]
	kernel8x32f32(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// The FMA peak loops (asmgen's peak): n iterations of twelve independent FMAs on
// registers of zeros, for BenchmarkFMAPeak. fmaPeakZ64 and fmaPeakZ32 need AVX-512F.
//
//go:noescape
func fmaPeakY64(n int)

//go:noescape
func fmaPeakZ64(n int)

//go:noescape
func fmaPeakY32(n int)

//go:noescape
func fmaPeakZ32(n int)

// peakLoop is one of the FMA peak loops with its flops per iteration.
type peakLoop struct {
	name      string
	precision string
	flops     int
	run       func(n int)
}

// peakLoops are the FMA peak loops this CPU can run.
func peakLoops() []peakLoop {
	var ps []peakLoop
	if hasAVX2 {
		ps = append(ps, peakLoop{"avx2", "f64", 12 * 2 * 4, fmaPeakY64}, peakLoop{"avx2", "f32", 12 * 2 * 8, fmaPeakY32})
	}
	if hasAVX512 {
		ps = append(ps, peakLoop{"avx512", "f64", 12 * 2 * 8, fmaPeakZ64}, peakLoop{"avx512", "f32", 12 * 2 * 16, fmaPeakZ32})
	}
	return ps
}
