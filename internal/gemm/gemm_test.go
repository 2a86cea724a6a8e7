package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// naive is the reference triple loop, summing in float64 in the obvious order. It returns
// C and, for each element, the sum of the magnitudes of its terms, |alpha| Σ_p |a b| +
// |beta c|, against which rounding errors are bounded.
func naive[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) (want, mag []float64) {
	want, mag = make([]float64, len(c)), make([]float64, len(c))
	for i, v := range c {
		want[i] = float64(v)
	}
	for i := range m {
		for j := range n {
			var s, abs float64
			for p := range k {
				var av, bv T
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			v := float64(alpha) * s
			mag[i*ldc+j] = math.Abs(float64(alpha)) * abs
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
				mag[i*ldc+j] += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*ldc+j] = v
		}
	}
	return want, mag
}

// problem is one product with its operands, strides and initial C.
type problem[T Float] struct {
	tA, tB        bool
	m, n, k       int
	alpha, beta   T
	a, b, c       []T
	lda, ldb, ldc int
}

func (p problem[T]) String() string {
	return fmt.Sprintf("tA=%t,tB=%t,m=%d,n=%d,k=%d,alpha=%g,beta=%g,ld=%d/%d/%d",
		p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

// newProblem draws operands in [-1, 1) with strides pad columns wider than needed.
func newProblem[T Float](rng *rand.Rand, tA, tB bool, m, n, k, pad int, alpha, beta T) problem[T] {
	p := problem[T]{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(1, ac+pad), max(1, bc+pad), max(1, n+pad)
	p.a = randSlice[T](rng, ar*p.lda)
	p.b = randSlice[T](rng, br*p.ldb)
	p.c = randSlice[T](rng, m*p.ldc)
	return p
}

func randSlice[T Float](rng *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(2*rng.Float64() - 1)
	}
	return s
}

// run computes p with kernel kr into a copy of p.c.
func (p problem[T]) run(w *Workspace[T], kr microKernel[T]) []T {
	c := append([]T(nil), p.c...)
	w.gemm(&kr, p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// whole computes p with kernel kr into a copy of p.c as one tile on the calling goroutine,
// the way every product ran before it was cut into tiles.
func (p problem[T]) whole(w *Workspace[T], kr microKernel[T]) []T {
	c := append([]T(nil), p.c...)
	w.run(&kr, p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc, nil)
	return c
}

func (p problem[T]) want() (want, mag []float64) {
	return naive(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
}

// errorBound is the stated bound on the error of an element of C relative to the
// magnitude of its terms (see naive), in units of that magnitude: k + 2⌈k/kc⌉ + 1
// roundings of unit 2⁻²⁴ (float32) or 2⁻⁵³ (float64) with FMA kernels (one per term,
// one for alpha and one merging each k block), k more for kernels that round products and
// sums apart, plus the float64 reference's own k roundings.
func errorBound[T Float](kr microKernel[T], k int) float64 {
	r := float64(k + 2*ceilDiv(k, kcMax) + 1)
	if !kr.fusedMerge {
		r += float64(k)
	}
	u := 0x1p-53
	if is32[T]() {
		u = 0x1p-24
	}
	return r*u + float64(k)*0x1p-53
}

// requireClose checks got against want element by element within errorBound of the terms'
// magnitude, so that cancellation in a sum does not fail a correct result. Padding must be
// untouched.
func requireClose[T Float](t *testing.T, p problem[T], kr microKernel[T], got []T) {
	t.Helper()
	want, mag := p.want()
	tol := errorBound(kr, p.k)
	for i := range p.m {
		for j := range p.ldc {
			idx := i*p.ldc + j
			if j >= p.n {
				require.Equal(t, p.c[idx], got[idx], "%v: padding C[%d][%d] changed", p, i, j)
				continue
			}
			require.LessOrEqual(t, math.Abs(float64(got[idx])-want[idx]), tol*mag[idx], "%s %v: C[%d][%d] = %v, want %v", kr.name, p, i, j, got[idx], want[idx])
		}
	}
}

// kernels64 and kernels32 are the micro-kernels this machine can run: the assembly ones,
// the Go one, and (but under the race detector) the Go twins of the assembly ones.
func kernels64() []microKernel[float64] {
	ks := append(asmKernels(), goKernel64)
	if raceEnabled {
		return ks
	}
	return append(ks, twins64...)
}

func kernels32() []microKernel[float32] {
	ks := append(asmKernels32(), goKernel32)
	if raceEnabled {
		return ks
	}
	return append(ks, twins32...)
}

// twinOf is kr with its micro-kernel and its assembly vector kernels replaced by their Go
// twins (twinKernel, dotsTwin, axpyTwin, rank1Twin): the packing and edge paths stay
// those of kr.
func twinOf[T Float](kr microKernel[T]) microKernel[T] {
	tw := twinKernel[T](kr.name, kr.mr, kr.nr)
	kr.name, kr.full = tw.name, tw.full
	if kr.dots != nil {
		kr.dots, kr.axpy, kr.rank1 = dotsTwin[T](kr.dotsLanes), axpyTwin[T], rank1Twin[T]
	}
	return kr
}

var shapes = [][3]int{ // m, n, k
	{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {1, 37, 9}, {1, 70, 33}, {41, 1, 17}, {9, 1, 70},
	{1, 1030, 20}, {1030, 1, 3}, {10, 64, 1}, {13, 7, 1}, {64, 1030, 1}, {13, 7, 9}, {7, 13, 9}, {6, 8, 4}, {8, 16, 3},
	{63, 65, 64}, {65, 63, 63}, {64, 64, 64}, {1, 64, 784}, {1, 10, 64}, {64, 10, 64},
	{10, 64, 64}, {64, 64, 10}, {17, 33, 257}, {5, 300, 513}, {129, 24, 20},
	{230, 20, 300}, {1030, 20, 20}, {0, 5, 5}, {5, 0, 5}, {5, 5, 0}, {6, 16, 5}, {8, 32, 9}, {9, 33, 17},
}

var transposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

func TestGemmAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, kr := range kernels64() {
		testAgainstNaive(t, rng, kr)
	}
	for _, kr := range kernels32() {
		testAgainstNaive(t, rng, kr)
	}
}

func testAgainstNaive[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	w := NewWorkspace[T]()
	scalars := []T{0, 1, -1, 0.5}
	for _, s := range shapes {
		for _, tr := range transposes {
			alpha, beta := scalars[rng.IntN(4)], scalars[rng.IntN(4)]
			pad := rng.IntN(3) * 3
			p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], pad, alpha, beta)
			t.Run(kr.name+"/"+p.String(), func(t *testing.T) {
				requireClose(t, p, kr, p.run(w, kr))
			})
		}
	}
}

// TestGemmSmallBlocks shrinks the blocking limits so that small products are cut into
// many k blocks, row blocks and column panels, each with edges.
func TestGemmSmallBlocks(t *testing.T) {
	defer func(kc, a, b int) { kcMax, blockA, blockB = kc, a, b }(kcMax, blockA, blockB)
	rng := rand.New(rand.NewPCG(7, 1))
	for _, kr := range kernels64() {
		testSmallBlocks(t, rng, kr)
	}
	for _, kr := range kernels32() {
		testSmallBlocks(t, rng, kr)
	}
}

func testSmallBlocks[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	w := NewWorkspace[T]()
	// Three row slivers and two column slivers per block at depth 7.
	kcMax, blockA, blockB = 7, 3*kr.mr*7, 2*kr.nr*7
	for _, s := range [][3]int{{50, 70, 30}, {3*kr.mr + 1, 2*kr.nr + 1, 14}, {5*kr.mr - 1, 3*kr.nr + 3, 15}} {
		for _, tr := range transposes {
			p := newProblem[T](rng, tr[0], tr[1], s[0], s[1], s[2], 1, 0.5, -1)
			bl := plan(&kr, p.m, p.n, p.k)
			require.Greater(t, bl.nk, 1, "%s %v: want several k blocks", kr.name, p)
			require.Greater(t, bl.nm, 1, "%s %v: want several row blocks", kr.name, p)
			require.Less(t, bl.nc, p.n, "%s %v: want several column panels", kr.name, p)
			requireClose(t, p, kr, p.run(w, kr))
		}
	}
}

// TestGemmAlphaBeta crosses every alpha and beta on one awkward shape.
func TestGemmAlphaBeta(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	for _, kr := range kernels64() {
		testAlphaBeta(t, rng, kr)
	}
	for _, kr := range kernels32() {
		testAlphaBeta(t, rng, kr)
	}
}

func testAlphaBeta[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	w := NewWorkspace[T]()
	for _, alpha := range []T{0, 1, -1, 0.5} {
		for _, beta := range []T{0, 1, -1, 0.5} {
			p := newProblem(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, 19, 41, 23, 2, alpha, beta)
			t.Run(kr.name+"/"+p.String(), func(t *testing.T) {
				requireClose(t, p, kr, p.run(w, kr))
			})
		}
	}
}

// TestGemmBetaZeroIgnoresNaN checks that C is not read when beta is zero.
func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	for _, kr := range kernels64() {
		testBetaZeroIgnoresNaN(t, rng, kr)
	}
	for _, kr := range kernels32() {
		testBetaZeroIgnoresNaN(t, rng, kr)
	}
}

func testBetaZeroIgnoresNaN[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	for _, alpha := range []T{0, 1} {
		p := newProblem[T](rng, false, true, 13, 37, 5, 0, alpha, 0)
		for i := range p.c {
			p.c[i] = T(math.NaN())
		}
		got := p.run(NewWorkspace[T](), kr)
		for i, v := range got {
			require.False(t, math.IsNaN(float64(v)), "%s alpha=%g: C[%d] is NaN", kr.name, alpha, i)
		}
	}
}

// TestKernelsMatchTwins runs each assembly kernel and its Go twin (the same loop in Go,
// see twinKernel) on the products of pcnet and on awkward shapes: they must agree bit for
// bit.
func TestKernelsMatchTwins(t *testing.T) {
	if len(asmKernels()) == 0 {
		t.Skip("no assembly kernel on this machine")
	}
	rng := rand.New(rand.NewPCG(4, 1))
	for _, kr := range asmKernels() {
		testMatchesTwin(t, rng, kr)
	}
	for _, kr := range asmKernels32() {
		testMatchesTwin(t, rng, kr)
	}
}

func testMatchesTwin[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	w := NewWorkspace[T]()
	tw := twinOf(kr)
	var all [][5]int // m, n, k, tA, tB
	for _, s := range benchShapes {
		if s.m*s.n*s.k <= 4<<20 && !raceEnabled { // the twins are slow under the race detector
			all = append(all, [5]int{s.m, s.n, s.k, b2i(s.tA), b2i(s.tB)})
		}
	}
	for i, s := range shapes {
		all = append(all, [5]int{s[0], s[1], s[2], i % 2, i / 2 % 2})
	}
	for _, s := range all {
		for _, ab := range [][2]T{{1, 0.5}, {-0.5, 0}, {1, 1}} {
			p := newProblem(rng, s[3] == 1, s[4] == 1, s[0], s[1], s[2], 0, ab[0], ab[1])
			require.Equal(t, p.run(w, tw), p.run(w, kr), "%s %v: the assembly and its twin differ", kr.name, p)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDeterministic checks that the result does not depend on the scratch contents or the
// workspace: two runs after filling the scratch with garbage give identical bits.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	for _, kr := range append(asmKernels(), goKernel64) {
		testDeterministic(t, rng, kr)
	}
	for _, kr := range append(asmKernels32(), goKernel32) {
		testDeterministic(t, rng, kr)
	}
}

func testDeterministic[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	for _, s := range append([][3]int{{65, 530, 300}, {530, 70, 64}}, shapes...) {
		p := newProblem[T](rng, rng.IntN(2) == 0, rng.IntN(2) == 0, s[0], s[1], s[2], 1, 0.5, -1)
		w1, w2 := NewWorkspace[T](), NewWorkspace[T]()
		for i := range w2.a {
			w2.a[i] = T(math.NaN())
		}
		for i := range w2.b {
			w2.b[i] = T(rng.NormFloat64())
		}
		first := p.run(w1, kr)
		second := p.run(w2, kr)
		third := p.run(w1, kr)
		require.Equal(t, first, second, "%s %v: results differ with another workspace", kr.name, p)
		require.Equal(t, first, third, "%s %v: results differ on a reused workspace", kr.name, p)
	}
}

// TestGemmAllocs checks that a warmed-up Gemm allocates nothing in either precision, on a
// product small enough to run whole and on one cut into tiles.
func TestGemmAllocs(t *testing.T) {
	testAllocs[float64](t)
	testAllocs[float32](t)
}

func testAllocs[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	for _, s := range [][3]int{{64, 64, 64}, {64, 64, 784}, {64, 1024, 1024}} {
		p := newProblem[T](rng, false, true, s[0], s[1], s[2], 0, 1, 1)
		call := func() {
			Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
		}
		call()
		require.Zero(t, testing.AllocsPerRun(20, call), "Gemm allocates on %v", p)
	}
}

// idleCounts reads the free list's count of workspaces made and of those idle.
func idleCounts() (created, free int) {
	idle64.mu.Lock()
	defer idle64.mu.Unlock()
	return idle64.created, len(idle64.free)
}

// TestReserve holds workspaces the way overlapping Gemm calls do: after Reserve(n) at
// least n wait on the free list, taking them all makes none, and only a call beyond them
// makes one.
func TestReserve(t *testing.T) {
	const n = 4
	Reserve(n)
	created, free := idleCounts()
	require.GreaterOrEqual(t, free, n, "Reserve(%d) left too few idle workspaces", n)
	held := make([]*Workspace[float64], 0, free+1)
	defer func() {
		for _, w := range held {
			idle64.put(w)
		}
	}()
	for range free {
		held = append(held, idle64.get())
	}
	after, _ := idleCounts()
	require.Equal(t, created, after, "%d overlapping calls made a workspace after Reserve", free)
	held = append(held, idle64.get())
	after, _ = idleCounts()
	require.Equal(t, created+1, after, "the call beyond the reserve makes exactly one workspace")
}

// TestGemmAllocsConcurrent calls Gemm from several goroutines at once: after Reserve the
// free list holds a workspace for every concurrent caller, so not even the first round
// makes one, and later rounds allocate nothing at all. The first round is checked through
// the free list's count rather than MemStats.Mallocs: the runtime allocates a waiter
// record the first time a goroutine blocks on a channel or a contended mutex on a P whose
// cache is empty, which Mallocs counts but which is not Gemm's doing.
func TestGemmAllocsConcurrent(t *testing.T) {
	const workers = 4
	Reserve(workers)
	before, _ := idleCounts()
	start := make([]chan struct{}, workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range workers {
		start[g] = make(chan struct{})
		q := newProblem[float64](rand.New(rand.NewPCG(7, uint64(g))), g%2 == 0, g/2 == 0, 64, 70, 100, 1, 1, 0)
		wg.Go(func() {
			for range start[g] {
				for range 5 {
					Gemm(q.tA, q.tB, q.m, q.n, q.k, q.alpha, q.a, q.lda, q.b, q.ldb, q.beta, q.c, q.ldc)
				}
				done <- struct{}{}
			}
		})
	}
	round := func() {
		for _, s := range start {
			s <- struct{}{}
		}
		for range start {
			<-done
		}
	}
	round()
	after, _ := idleCounts()
	firstRound := after - before
	allocs := testing.AllocsPerRun(10, round)
	for _, s := range start {
		close(s)
	}
	wg.Wait()
	require.Zero(t, firstRound, "the first concurrent Gemm calls made workspaces")
	require.Zero(t, allocs, "concurrent Gemm calls allocate")
}
