package layer

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	kernels "github.com/pcnet/pcnet/internal/gemm"
	"github.com/pcnet/pcnet/tensor"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Kernel names an implementation of the matrix products of this package.
type Kernel int32

const (
	// KernelSIMD is internal/gemm: packed, cache-blocked products with an AVX2 or AVX-512
	// micro-kernel, or its portable Go kernel where the CPU has neither. A large product is
	// cut into tiles that run on every core the other products leave free, with the same
	// result at every GOMAXPROCS.
	KernelSIMD Kernel = iota
	// KernelGonum is gonum's pure-Go Dgemm (Sgemm in float32), cut into tiles small enough
	// to stay on the calling goroutine.
	KernelGonum
	// KernelOpenBLAS is OpenBLAS's cblas_dgemm (cblas_sgemm in float32) on one thread, in
	// binaries built with the openblas tag (cgo, -lopenblas).
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
// than ever before overlap, one of them allocates it. Each precision has scratch of its
// own, so the reservation is for products in T.
func Reserve[T tensor.Float](n int) { kernels.ReserveOf[T](n) }

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
// shape, so the result does not depend on GOMAXPROCS. alpha and beta are 0 or 1 in this
// package, exact in either precision.
func gemm[T tensor.Float](tA, tB bool, alpha float64, a, b *tensor.Matrix[T], beta float64, c *tensor.Matrix[T]) {
	gemms(product[T]{tA: tA, tB: tB, alpha: alpha, a: a, b: b, beta: beta, c: c})
}

// product is the arguments of one gemm, and what finishes its C.
type product[T tensor.Float] struct {
	tA, tB bool
	alpha  float64
	a, b   *tensor.Matrix[T]
	beta   float64
	c      *tensor.Matrix[T]
	// then, when not nil, finishes C: block by block as KernelSIMD's tiles finish them
	// (internal/gemm's Product.Then), or all at once after the other kernels' products.
	then kernels.Finisher
}

// shape checks the product's shapes and returns its m, n and k.
func (p *product[T]) shape() (m, n, k int) {
	m, k = p.a.Rows, p.a.Cols
	if p.tA {
		m, k = k, m
	}
	kb, n := p.b.Rows, p.b.Cols
	if p.tB {
		kb, n = n, kb
	}
	if m != p.c.Rows || n != p.c.Cols || k != kb {
		panic(&ShapeError{Op: "gemm", What: fmt.Sprintf("op(A) %dx%d times op(B)", m, k), Got: [2]int{kb, n}, Want: [2]int{k, p.c.Cols}})
	}
	return m, n, k
}

// maxBatch is the most products one gemms call takes.
const maxBatch = 2

// gemms computes up to maxBatch products that are independent of one another (none
// writes what another reads, then included): with KernelSIMD as one batch, whose tiles
// share the cores at once, with the other kernels one after the other.
func gemms[T tensor.Float](ps ...product[T]) {
	if len(ps) > maxBatch {
		panic(fmt.Sprintf("layer: %d products in one batch, at most %d", len(ps), maxBatch))
	}
	var batch [maxBatch]kernels.Product[T] // on the stack: a batch allocates nothing
	for i := range ps {
		p := &ps[i]
		m, n, k := p.shape()
		batch[i] = kernels.Product[T]{TA: p.tA, TB: p.tB, M: m, N: n, K: k, Alpha: T(p.alpha), A: p.a.Data, Lda: p.a.Stride,
			B: p.b.Data, Ldb: p.b.Stride, Beta: T(p.beta), C: p.c.Data, Ldc: p.c.Stride, Then: p.then}
	}
	switch kern := Kernel(activeKernel.Load()); kern {
	case KernelGonum, KernelOpenBLAS:
		for i := range ps {
			ps[i].runOther(kern, batch[i].M, batch[i].N, batch[i].K)
		}
	default:
		kernels.Batch(batch[:len(ps)]...)
	}
}

// runOther runs the m x n x k product with kern, KernelGonum or KernelOpenBLAS, then
// finishes C.
func (p *product[T]) runOther(kern Kernel, m, n, k int) {
	a, b, c := p.a, p.b, p.c
	if kern == KernelGonum {
		gemmGonum(p.tA, p.tB, p.alpha, *a, *b, p.beta, *c)
	} else if is32[T]() {
		gemmOpenBLAS32(p.tA, p.tB, m, n, k, float32(p.alpha), as32(a.Data), a.Stride, as32(b.Data), b.Stride, float32(p.beta), as32(c.Data), c.Stride)
	} else {
		gemmOpenBLAS(p.tA, p.tB, m, n, k, p.alpha, as64(a.Data), a.Stride, as64(b.Data), b.Stride, p.beta, as64(c.Data), c.Stride)
	}
	if p.then != nil && m > 0 && n > 0 {
		p.then.Finish(0, 0, m, n)
	}
}

// gemmGonum is gemm with gonum's Dgemm (float64) or Sgemm (float32), tile by tile.
func gemmGonum[T tensor.Float](tA, tB bool, alpha float64, a, b tensor.Matrix[T], beta float64, c tensor.Matrix[T]) {
	for i := 0; i < c.Rows; i += tileRows {
		m := min(tileRows, c.Rows-i)
		at := a
		if !tA {
			at.Rows, at.Data = m, a.Data[i*a.Stride:]
		} else {
			at.Cols, at.Data = m, a.Data[i:]
		}
		for j := 0; j < c.Cols; j += tileCols {
			n := min(tileCols, c.Cols-j)
			bt := b
			if !tB {
				bt.Cols, bt.Data = n, b.Data[j:]
			} else {
				bt.Rows, bt.Data = n, b.Data[j*b.Stride:]
			}
			ct := tensor.Matrix[T]{Rows: m, Cols: n, Stride: c.Stride, Data: c.Data[i*c.Stride+j:]}
			gonumTile(trans(tA), trans(tB), alpha, at, bt, beta, ct)
		}
	}
}

// gonumTile runs one tile on gonum's kernel of precision T.
func gonumTile[T tensor.Float](tA, tB blas.Transpose, alpha float64, a, b tensor.Matrix[T], beta float64, c tensor.Matrix[T]) {
	if is32[T]() {
		g := func(m tensor.Matrix[T]) blas32.General {
			return blas32.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride, Data: as32(m.Data)}
		}
		blas32.Gemm(tA, tB, float32(alpha), g(a), g(b), float32(beta), g(c))
		return
	}
	g := func(m tensor.Matrix[T]) blas64.General {
		return blas64.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride, Data: as64(m.Data)}
	}
	blas64.Gemm(tA, tB, alpha, g(a), g(b), beta, g(c))
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// is32 reports whether T is float32; it is a constant in each instantiation.
func is32[T tensor.Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// as32 and as64 view a []T as the concrete slice type it is (the caller has checked
// is32), without copying: a type switch on an interface would allocate a slice header.
func as32[T tensor.Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func as64[T tensor.Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
