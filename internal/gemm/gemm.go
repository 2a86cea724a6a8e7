package gemm

import (
	"fmt"
	"sync"
	"unsafe"
)

// Blocking limits, tuned on AMD Zen 4 (32 KiB L1d and 1 MiB L2 per core). A k block is at
// most kcMaxDefault deep: the 6x8 kernel's slivers (12 + 16 KiB) then sit in L1, while the
// 8x16 kernel's (16 + 32 KiB) stream from L2, which keeps up with its one zmm FMA per
// cycle; deeper blocks measured no faster. The packed A block (mc x kc) is held to aElems
// elements (256 KiB of float64) and the packed B panel (kc x nc) to bElems elements (512
// KiB of float64), so that both stay in L2; float32 blocks use the same element counts.
const (
	kcMaxDefault = 256
	aElems       = 32 << 10
	bElems       = 64 << 10
	// paElems bounds all of op(A), packed once and shared by the tiles of a product cut
	// over its columns only (see parallel.go): 64 rows (a batch) by 1024.
	paElems = 64 << 10
	// maxTile is the largest mr*nr of any kernel (the float32 8x32): the size of the
	// edge-tile scratch.
	maxTile = 8 * 32
	// align is the alignment of the packed buffers in bytes: one cache line, one zmm.
	align = 64
)

// Float is the element type of a product: the kernels, the packing and the blocking are
// written once over it, and each precision gets its own micro-kernels.
type Float interface{ float32 | float64 }

// microKernel describes one register-blocked kernel. full computes the mr x nr tile
// c = alpha*(a·b) + beta*c from a packed A sliver a (kc x mr, stored p-major: a[p*mr+i]) and
// a packed B sliver b (kc x nr: b[p*nr+j]); c is row-major with stride ldc and is not read
// when beta is zero. fusedMerge says whether full computes beta*c + alpha*acc as an FMA,
// with one rounding; the edge and matrix-vector paths then round the same way.
type microKernel[T Float] struct {
	name       string
	mr, nr     int
	fusedMerge bool
	full       func(kc int, a, b []T, c []T, ldc int, alpha, beta T)
	// packCopy and packInterleave pack slivers (see pack.go); nil means the portable Go
	// packers. next is where the sliver the driver packs next lies, in elements from src
	// (0: none), which the assembly packers prefetch while they pack this one.
	packCopy, packInterleave func(dst, src []T, ld, kc, w, r, next int)
	// dots and axpy are the matrix-vector kernels (see gemv.go); nil means the Go ones.
	dots, axpy func(k int, x, b []T, ldb, n int, out []T)
	// rank1 is one row of an outer product (see gemv.go); nil means rank1Go.
	rank1 func(n int, s T, b, c []T, alpha, beta T)
	// dotsLanes is the width of dots' vector accumulators, which fixes its order of sums
	// (see dotsTwin); 0 when dots is nil.
	dotsLanes int
}

// The blocking limits in use. They are variables only so that tests can force many small
// blocks and benchmarks can try other depths; blockA and blockB must not exceed aElems
// and bElems. They count elements of either precision.
var (
	kcMax  = kcMaxDefault
	blockA = aElems
	blockB = bElems
)

// kernel64 and kernel32 are the micro-kernels of this process, chosen once at start-up
// (see gemm_amd64.go).
var (
	kernel64 = goKernel64
	kernel32 = goKernel32
)

// is32 reports whether T is float32. It is a constant in each instantiation.
func is32[T Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// kernelOf is the micro-kernel of precision T.
func kernelOf[T Float]() *microKernel[T] {
	if is32[T]() {
		return any(&kernel32).(*microKernel[T])
	}
	return any(&kernel64).(*microKernel[T])
}

// KernelName names the float64 micro-kernel in use: "avx512-8x16", "avx2-6x8" or "go-4x4".
func KernelName() string { return kernel64.name }

// KernelNameOf names the micro-kernel of precision T in use; for float32 it is
// "avx512-8x32-f32", "avx2-6x16-f32" or "go-4x4-f32".
func KernelNameOf[T Float]() string { return kernelOf[T]().name }

// Workspace is the packing scratch of Gemm in precision T. A Workspace is not safe for
// concurrent use; its contents never affect results.
type Workspace[T Float] struct {
	a, b []T   // packed A block and B panel, 64-byte aligned
	pa   [][]T // all of op(A) of each product of a job, packed for its tiles (see parallel.go)
	tile [maxTile]T
	job  job[T] // the products this workspace's caller is running on tiles (see parallel.go)
}

// NewWorkspace allocates the scratch of one concurrent product (about 1.3 MB in float64,
// half that in float32).
func NewWorkspace[T Float]() *Workspace[T] {
	w := &Workspace[T]{a: alignedSlice[T](aElems), b: alignedSlice[T](bElems), pa: [][]T{alignedSlice[T](paElems)}}
	w.job.parts = make([]part[T], 0, 2) // a batch of two (a layer's VJPs) allocates nothing
	return w
}

func alignedSlice[T Float](n int) []T {
	size := 8
	if is32[T]() {
		size = 4
	}
	pad := align / size
	s := make([]T, n+pad)
	off := int(uintptr(unsafe.Pointer(&s[0]))%align) / size
	if off != 0 {
		off = pad - off
	}
	return s[off : off+n : off+n]
}

// idle64 and idle32 hold the workspaces that no Gemm call is using. They are plain free
// lists rather than sync.Pools because a pool is emptied by the garbage collector (and,
// under the race detector, drops items at random), and either would make a warmed-up Gemm
// allocate. Each keeps at most maxIdle workspaces, as many as the most concurrent Gemm
// calls and helpers so far.
var (
	idle64 = freeList[float64]{free: make([]*Workspace[float64], 0, maxIdle)}
	idle32 = freeList[float32]{free: make([]*Workspace[float32], 0, maxIdle)}
)

// idleOf is the free list of precision T.
func idleOf[T Float]() *freeList[T] {
	if is32[T]() {
		return any(&idle32).(*freeList[T])
	}
	return any(&idle64).(*freeList[T])
}

const maxIdle = 64

type freeList[T Float] struct {
	mu      sync.Mutex
	free    []*Workspace[T]
	created int // workspaces made for the list, idle or in use
}

func (f *freeList[T]) get() *Workspace[T] {
	f.mu.Lock()
	n := len(f.free)
	if n == 0 {
		f.created++
		f.mu.Unlock()
		return NewWorkspace[T]()
	}
	w := f.free[n-1]
	f.free[n-1] = nil
	f.free = f.free[:n-1]
	f.mu.Unlock()
	return w
}

func (f *freeList[T]) put(w *Workspace[T]) {
	f.mu.Lock()
	if len(f.free) < cap(f.free) {
		f.free = append(f.free, w)
	}
	f.mu.Unlock()
}

// reserve makes workspaces until the list has made n.
func (f *freeList[T]) reserve(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ; f.created < n; f.created++ {
		f.free = append(f.free, NewWorkspace[T]())
	}
}

// Reserve makes float64 workspaces for n concurrent Gemm calls now, and for the helpers
// that they may start (GOMAXPROCS-1 at most, see parallel.go), so that no later call
// allocates while at most n run at once; 64 workspaces at most. A
// program that runs products on many goroutines, like pcnet's layer actors, calls it once
// before its steady state: otherwise the first time more products than ever before
// overlap, one of them allocates.
func Reserve(n int) { ReserveOf[float64](n) }

// ReserveOf is Reserve for products in precision T.
func ReserveOf[T Float](n int) {
	idleOf[T]().reserve(min(n+maxHelpers(), maxIdle))
}

// Gemm computes C = alpha op(A) op(B) + beta C on row-major matrices, where op(X) is Xᵀ
// when the matching flag is set: op(A) is m x k, op(B) is k x n and C is m x n. A is stored
// m x k (k x m when tA) with row stride lda, likewise B (k x n, or n x k when tB) with
// ldb, and C with ldc. When beta is zero C is not read, so it may hold NaNs.
//
// Gemm borrows a Workspace from a free list. It runs a large product as tiles of C on the
// calling goroutine and on helpers drawn from a pool shared by the whole process (see
// parallel.go), with the same result bit for bit as on one core. It panics with a message
// naming the shapes when a stride or a slice is too short for them.
func Gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	f := idleOf[T]()
	w := f.get()
	w.Gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	f.put(w)
}

// Gemm is the package-level Gemm with w's scratch for the tiles run on the calling
// goroutine; helpers borrow theirs from the free list.
func (w *Workspace[T]) Gemm(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	w.gemm(kernelOf[T](), tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm is Gemm with the kernels of kr.
func (w *Workspace[T]) gemm(kr *microKernel[T], tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	w.batch(kr, []Product[T]{{TA: tA, TB: tB, M: m, N: n, K: k, Alpha: alpha, A: a, Lda: lda, B: b, Ldb: ldb, Beta: beta, C: c, Ldc: ldc}})
}

// Product is one product of a Batch: C = Alpha op(A) op(B) + Beta C, with the arguments of
// Gemm.
type Product[T Float] struct {
	TA, TB  bool
	M, N, K int
	Alpha   T
	A       []T
	Lda     int
	B       []T
	Ldb     int
	Beta    T
	C       []T
	Ldc     int
	// Then, when not nil, finishes C block by block: Then.Finish is called once for each
	// block of C as soon as the block is final, the blocks together covering C once (one
	// block, all of C, when the product runs whole). Calls for different blocks may run
	// at once on other goroutines, and the batch returns once all have returned. An
	// elementwise step after the product (an activation, a gate) done there runs on the
	// cores that ran the product, on blocks still in their caches, instead of after it
	// on one core.
	Then Finisher
}

// Finisher finishes the blocks of a product's C (Product.Then).
type Finisher interface {
	// Finish finishes rows i0 to i0+m-1 and columns j0 to j0+n-1 of C.
	Finish(i0, j0, m, n int)
}

// Batch computes products that are independent of one another (none writes what another
// reads, Then included), with the tiles of all of them shared out among the cores at once:
// the batch waits for woken cores, and for its last tile, once instead of once per product.
// Each product is cut on the grid it has alone, so each result is Gemm's bit for bit.
// Batch borrows a Workspace as Gemm does, and panics as Gemm does on bad arguments.
func Batch[T Float](ps ...Product[T]) {
	f := idleOf[T]()
	w := f.get()
	w.Batch(ps...)
	f.put(w)
}

// Batch is the package-level Batch with w's scratch for the tiles run on the calling
// goroutine.
func (w *Workspace[T]) Batch(ps ...Product[T]) { w.batch(kernelOf[T](), ps) }

// batch is Batch with the kernels of kr. The special cases (empty products, alpha or k
// zero, matrix-vector and outer products) run first, on the calling goroutine; the others
// make one job.
func (w *Workspace[T]) batch(kr *microKernel[T], ps []Product[T]) {
	j := &w.job
	j.reset(kr, len(ps))
	for i := range ps {
		p := &ps[i]
		checkArgs(p.TA, p.TB, p.M, p.N, p.K, p.A, p.Lda, p.B, p.Ldb, p.C, p.Ldc)
		if p.M == 0 || p.N == 0 {
			continue
		}
		if !w.special(kr, p) {
			j.add(p)
			continue
		}
		if p.Then != nil {
			p.Then.Finish(0, 0, p.M, p.N)
		}
	}
	w.runJob(j)
}

// special runs the checked product p if it is one of the cases with kernels of their own,
// and reports whether it was.
func (w *Workspace[T]) special(kr *microKernel[T], p *Product[T]) bool {
	tA, tB, m, n, k := p.TA, p.TB, p.M, p.N, p.K
	alpha, a, lda, b, ldb, beta, c, ldc := p.Alpha, p.A, p.Lda, p.B, p.Ldb, p.Beta, p.C, p.Ldc
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return true
	}
	if (m == 1 || n == 1) && w.gemv(kr, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return true
	}
	return k == 1 && w.rank1(kr, tA, tB, m, n, alpha, a, lda, b, ldb, beta, c, ldc)
}

// kcOf is the depth of k block pb of nk: the blocks' depths differ by at most one.
func kcOf(k, nk, pb int) int {
	kc := k / nk
	if pb < k%nk {
		kc++
	}
	return kc
}

// blocking is the cut of one product into blocks. It depends only on the shape and the
// kernel, which is what makes the summation order, and so the result, reproducible.
type blocking struct {
	nk     int // number of k blocks; their depths differ by at most one
	mc, nm int // rows per block of C (a multiple of mr) and the number of such blocks
	nc     int // columns per panel (a multiple of nr, or n when nm == 1)
}

// plan cuts k into the fewest blocks of at most kcMax, of equal depth give or take one, and
// the rows into the fewest blocks whose packed A fits blockA, of equal height rounded up
// to whole slivers. With one row block every B sliver is used once, so the panel spans C;
// otherwise panels are cut so that the packed B fits blockB.
func plan[T Float](kr *microKernel[T], m, n, k int) blocking {
	var bl blocking
	bl.nk = ceilDiv(k, kcMax)
	kcb := ceilDiv(k, bl.nk)
	mcMax := max(kr.mr, blockA/kcb/kr.mr*kr.mr)
	bl.nm = ceilDiv(m, mcMax)
	bl.mc = roundUp(ceilDiv(m, bl.nm), kr.mr)
	if bl.nm == 1 {
		// No later row block reuses the packed B slivers, so each is packed into the same
		// L1-resident slot right before use and the panel may be as wide as C.
		bl.nc = n
		return bl
	}
	ncMax := max(kr.nr, blockB/kcb/kr.nr*kr.nr)
	nn := ceilDiv(n, ncMax)
	bl.nc = roundUp(ceilDiv(n, nn), kr.nr)
	return bl
}

// run is the blocked product with kernel kr; the arguments have been checked. pa, when
// not nil, holds all of op(A) packed by packTask, which run then uses instead of packing.
func (w *Workspace[T]) run(kr *microKernel[T], tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, pa []T) {
	mr, nr := kr.mr, kr.nr
	bl := plan(kr, m, n, k)
	packCopy, packInterleave := kr.packCopy, kr.packInterleave
	if packCopy == nil {
		packCopy, packInterleave = packCopyGo[T], packInterleaveGo[T]
	}
	for jc := 0; jc < n; jc += bl.nc {
		ncur := min(bl.nc, n-jc)
		p0 := 0
		for pb := 0; pb < bl.nk; pb++ {
			kc := kcOf(k, bl.nk, pb)
			bet := beta
			if pb > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += bl.mc {
				mcur := min(bl.mc, m-ic)
				for jr := 0; jr < ncur; jr += nr {
					nrr := min(nr, ncur-jr)
					off := 0
					if bl.nm > 1 {
						off = jr * kc
					}
					bs := w.b[off : off+kc*nr]
					if ic == 0 {
						j := jc + jr
						// The next sliver of op(B) to pack: the next one of this k block,
						// or after the last one, the first of the next k block, whose
						// rows of a B read in columns (not tB) lie a page apart: unfetched,
						// they would stall its packing on memory, once per k block of each
						// tile of a product cut over its columns (issue 18: the input VJP
						// of a layer whose W comes from memory).
						next := 0
						switch {
						case jr+2*nr <= ncur && tB:
							next = nr * ldb
						case jr+2*nr <= ncur:
							next = nr
						case jr+nr >= ncur && pb+1 < bl.nk && tB:
							next = kc - jr*ldb
						case jr+nr >= ncur && pb+1 < bl.nk:
							next = kc*ldb - jr
						}
						if tB {
							packInterleave(bs, b[j*ldb+p0:], ldb, kc, nrr, nr, next)
						} else {
							packCopy(bs, b[p0*ldb+j:], ldb, kc, nrr, nr, next)
						}
					}
					for ir := 0; ir < mcur; ir += mr {
						mrr := min(mr, mcur-ir)
						as := w.a[ir*kc : ir*kc+kc*mr]
						i := ic + ir
						if pa != nil {
							off := p0*roundUp(m, mr) + i*kc
							as = pa[off : off+kc*mr]
						} else if jr == 0 {
							next := 0
							if ir+2*mr <= mcur {
								next = mr // tA: the next sliver's columns
								if !tA {
									next = mr * lda
								}
							}
							if tA {
								packCopy(as, a[p0*lda+i:], lda, kc, mrr, mr, next)
							} else {
								packInterleave(as, a[i*lda+p0:], lda, kc, mrr, mr, next)
							}
						}
						ci := i*ldc + jc + jr
						if mrr == mr && nrr == nr {
							kr.full(kc, as, bs, c[ci:], ldc, alpha, bet)
							continue
						}
						t := w.tile[:mr*nr]
						kr.full(kc, as, bs, t, nr, 1, 0)
						mergeEdge(c[ci:], ldc, t, nr, mrr, nrr, alpha, bet, kr.fusedMerge)
					}
				}
			}
			p0 += kc
		}
	}
}

// packGroup is the number of slivers of op(A) one packing task of a split product packs
// (see packTask): a few microseconds of work, so that the workers share the packing.
const packGroup = 4

// sharedPack returns the scratch that holds all of op(A) (m x k) of the job's part i
// packed, and the number of tasks that pack it (packTask), or nil and 0 when op(A) does
// not fit. A workspace makes the scratch of a second part of a job the first time it has
// one (a Batch of two products), and keeps it.
func (w *Workspace[T]) sharedPack(kr *microKernel[T], m, k, i int) (pa []T, tasks, nk int) {
	mPad := roundUp(m, kr.mr)
	if mPad*k > paElems {
		return nil, 0, 0
	}
	for len(w.pa) <= i {
		w.pa = append(w.pa, alignedSlice[T](paElems))
	}
	nk = plan(kr, m, 1, k).nk
	return w.pa[i][:mPad*k], nk * ceilDiv(mPad/kr.mr, packGroup), nk
}

// packTask runs task t of packing all of op(A) (m x k, in nk k blocks) into pa as run
// packs it block by block: k block pb, rows i to i+mr, at p0*roundUp(m, mr) + i*kc, p0
// being the block's first p. Task t packs up to packGroup slivers of one k block.
func packTask[T Float](kr *microKernel[T], tA bool, m, k, nk int, a []T, lda int, pa []T, t int) {
	mr, mPad := kr.mr, roundUp(m, kr.mr)
	packCopy, packInterleave := kr.packCopy, kr.packInterleave
	if packCopy == nil {
		packCopy, packInterleave = packCopyGo[T], packInterleaveGo[T]
	}
	groups := ceilDiv(mPad/mr, packGroup)
	pb, i0 := t/groups, t%groups*packGroup*mr
	kc, p0 := kcOf(k, nk, pb), pb*(k/nk)+min(pb, k%nk)
	for i := i0; i < min(m, i0+packGroup*mr); i += mr {
		off := p0*mPad + i*kc
		dst, mrr, next := pa[off:off+kc*mr], min(mr, m-i), 0
		if i+2*mr <= m {
			next = mr // tA: the next sliver's columns
			if !tA {
				next = mr * lda
			}
		}
		if tA {
			packCopy(dst, a[p0*lda+i:], lda, kc, mrr, mr, next)
		} else {
			packInterleave(dst, a[i*lda+p0:], lda, kc, mrr, mr, next)
		}
	}
}

// mergeEdge writes c = alpha*t + beta*c for the mrr x nrr corner of an edge tile, rounding
// as the kernel does for whole tiles.
func mergeEdge[T Float](c []T, ldc int, t []T, ldt, mrr, nrr int, alpha, beta T, fused bool) {
	for i := range mrr {
		ci := c[i*ldc : i*ldc+nrr]
		ti := t[i*ldt : i*ldt+nrr]
		for j, v := range ti {
			v *= alpha
			switch {
			case beta == 0:
			case fused:
				v = fma(beta, ci[j], v)
			default:
				v += beta * ci[j]
			}
			ci[j] = v
		}
	}
}

// scale sets C = beta C, writing zeros when beta is zero so that NaNs in C do not survive.
func scale[T Float](m, n int, beta T, c []T, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func checkArgs[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", tA, m, k, a, lda)
	checkMatrix("B", tB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
}

// checkMatrix checks that x holds op(X), an r x s matrix, stored with stride ld.
func checkMatrix[T Float](name string, trans bool, r, s int, x []T, ld int) {
	rows, cols := r, s
	if trans {
		rows, cols = s, r
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: stride of %s is %d, less than its %d columns (%s is stored %dx%d, transposed=%t)", name, ld, cols, name, rows, cols, trans))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, a %dx%d matrix with stride %d needs %d", name, len(x), rows, cols, ld, need))
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// HasAssembly reports whether Gemm runs an assembly micro-kernel on this CPU (in either
// precision: both have one where the CPU has AVX2 and FMA).
func HasAssembly() bool { return kernel64.name != goKernel64.name }
