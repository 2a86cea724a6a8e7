package layer

import (
	"fmt"
	"sync/atomic"

	kernels "github.com/pcnet/pcnet/internal/gemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Kernel names an implementation of the matrix products of this package.
type Kernel int32

const (
	// KernelSIMD is internal/gemm: packed, cache-blocked products with an AVX2 or AVX-512
	// micro-kernel, or its portable Go kernel where the CPU has neither. A large product is
	// cut into tiles that run on every core the other products leave free, with the same
	// result at every GOMAXPROCS.
	KernelSIMD Kernel = iota
	// KernelGonum is gonum's pure-Go Dgemm, cut into tiles small enough to stay on the
	// calling goroutine.
	KernelGonum
	// KernelOpenBLAS is OpenBLAS's cblas_dgemm on one thread, in binaries built with the
	// openblas tag (cgo, -lopenblas).
	KernelOpenBLAS
)

var kernelNames = [...]string{KernelSIMD: "simd", KernelGonum: "gonum", KernelOpenBLAS: "openblas"}

func (k Kernel) String() string {
	if k < 0 || int(k) >= len(kernelNames) {
		return fmt.Sprintf("Kernel(%d)", int(k))
	}
	return kernelNames[k]
}

// activeKernel is read by every product, possibly on many goroutines at once.
var activeKernel atomic.Int32

func init() {
	activeKernel.Store(int32(DefaultKernel()))
}

// DefaultKernel is the kernel a process starts with: KernelSIMD where internal/gemm has
// an assembly micro-kernel for the CPU, KernelGonum elsewhere (gonum's kernels beat the
// portable Go one).
func DefaultKernel() Kernel {
	if kernels.HasAssembly() {
		return KernelSIMD
	}
	return KernelGonum
}

// UseKernel makes every later product use k and returns the kernel it replaces. It fails
// for KernelOpenBLAS in binaries built without the openblas tag. Switch kernels only
// between runs: a network whose products mix kernels mid-step rounds differently from
// one that does not.
func UseKernel(k Kernel) (Kernel, error) {
	switch k {
	case KernelSIMD, KernelGonum:
	case KernelOpenBLAS:
		if !haveOpenBLAS {
			return CurrentKernel(), fmt.Errorf("layer: kernel %v is not in this binary (build with -tags openblas and libopenblas-dev installed)", k)
		}
	default:
		return CurrentKernel(), fmt.Errorf("layer: unknown kernel %v (want %v, %v or %v)", k, KernelSIMD, KernelGonum, KernelOpenBLAS)
	}
	return Kernel(activeKernel.Swap(int32(k))), nil
}

// Reserve readies the matrix products for n callers at once. The SIMD kernel keeps packing
// scratch for each product in flight; without a reservation, the first time more products
// than ever before overlap, one of them allocates it.
func Reserve(n int) { kernels.Reserve(n) }

// CurrentKernel is the kernel the products use now.
func CurrentKernel() Kernel { return Kernel(activeKernel.Load()) }

// Tile sizes of the gonum products. gonum's Dgemm goes parallel once the output holds four
// or more 64x64 blocks; a tile of 64 rows by 192 columns holds three, so every tile runs on
// the calling goroutine. The layer goroutines of the pcnet engine supply the parallelism.
const (
	tileRows = 64
	tileCols = 192
)

// gemm computes C = alpha * op(A) op(B) + beta * C with the current kernel: on the calling
// goroutine, but for KernelSIMD's large products, which also use idle cores. op(X) is X or
// Xᵀ as tA and tB say. Every kernel cuts a product in a way that depends only on its
// shape, so the result does not depend on GOMAXPROCS.
func gemm(tA, tB blas.Transpose, alpha float64, a, b blas64.General, beta float64, c blas64.General) {
	m, k := a.Rows, a.Cols
	if tA != blas.NoTrans {
		m, k = k, m
	}
	kb, n := b.Rows, b.Cols
	if tB != blas.NoTrans {
		kb, n = n, kb
	}
	if m != c.Rows || n != c.Cols || k != kb {
		panic(&ShapeError{Op: "gemm", What: fmt.Sprintf("op(A) %dx%d times op(B)", m, k), Got: [2]int{kb, n}, Want: [2]int{k, c.Cols}})
	}
	switch Kernel(activeKernel.Load()) {
	case KernelGonum:
		gemmGonum(tA, tB, alpha, a, b, beta, c)
	case KernelOpenBLAS:
		gemmOpenBLAS(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a.Data, a.Stride, b.Data, b.Stride, beta, c.Data, c.Stride)
	default:
		kernels.Gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a.Data, a.Stride, b.Data, b.Stride, beta, c.Data, c.Stride)
	}
}

// gemmGonum is gemm with gonum's Dgemm, tile by tile.
func gemmGonum(tA, tB blas.Transpose, alpha float64, a, b blas64.General, beta float64, c blas64.General) {
	for i := 0; i < c.Rows; i += tileRows {
		m := min(tileRows, c.Rows-i)
		at := a
		if tA == blas.NoTrans {
			at.Rows, at.Data = m, a.Data[i*a.Stride:]
		} else {
			at.Cols, at.Data = m, a.Data[i:]
		}
		for j := 0; j < c.Cols; j += tileCols {
			n := min(tileCols, c.Cols-j)
			bt := b
			if tB == blas.NoTrans {
				bt.Cols, bt.Data = n, b.Data[j:]
			} else {
				bt.Rows, bt.Data = n, b.Data[j*b.Stride:]
			}
			ct := blas64.General{Rows: m, Cols: n, Stride: c.Stride, Data: c.Data[i*c.Stride+j:]}
			blas64.Gemm(tA, tB, alpha, at, bt, beta, ct)
		}
	}
}

func raw(m *mat.Dense) blas64.General { return m.RawMatrix() }
