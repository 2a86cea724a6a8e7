package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// naive is the reference triple loop, summing in float64 in the obvious order.
func naive(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float64
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
				s += av * bv
			}
			v := alpha * s
			if beta != 0 {
				v += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = v
		}
	}
}

// problem is one product with its operands, strides and initial C.
type problem struct {
	tA, tB        bool
	m, n, k       int
	alpha, beta   float64
	a, b, c       []float64
	lda, ldb, ldc int
}

func (p problem) String() string {
	return fmt.Sprintf("tA=%t,tB=%t,m=%d,n=%d,k=%d,alpha=%g,beta=%g,ld=%d/%d/%d",
		p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

// newProblem draws operands in [-1, 1) with strides pad columns wider than needed.
func newProblem(rng *rand.Rand, tA, tB bool, m, n, k, pad int, alpha, beta float64) problem {
	p := problem{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(1, ac+pad), max(1, bc+pad), max(1, n+pad)
	p.a = randSlice(rng, ar*p.lda)
	p.b = randSlice(rng, br*p.ldb)
	p.c = randSlice(rng, m*p.ldc)
	return p
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rng.Float64() - 1
	}
	return s
}

// run computes p with kernel kr into a copy of p.c.
func (p problem) run(w *Workspace, kr microKernel) []float64 {
	c := append([]float64(nil), p.c...)
	w.gemm(kr, p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

func (p problem) want() []float64 {
	c := append([]float64(nil), p.c...)
	naive(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// requireClose checks got against want element by element, relative to the size of the
// terms that were summed (|alpha| k + |beta|, the operands being in [-1, 1)), so that
// cancellation in a sum does not fail a correct result. Padding must be untouched.
func requireClose(t *testing.T, p problem, got, want []float64, tol float64) {
	t.Helper()
	scale := math.Abs(p.alpha)*float64(p.k) + math.Abs(p.beta) + 1
	for i := range p.m {
		for j := range p.ldc {
			idx := i*p.ldc + j
			if j >= p.n {
				require.Equal(t, p.c[idx], got[idx], "%v: padding C[%d][%d] changed", p, i, j)
				continue
			}
			require.LessOrEqual(t, math.Abs(got[idx]-want[idx]), tol*scale, "%v: C[%d][%d] = %v, want %v", p, i, j, got[idx], want[idx])
		}
	}
}

// kernels are the micro-kernels this machine can run: the assembly ones and the Go one.
func kernels() []microKernel { return append(asmKernels(), goKernel) }

var shapes = [][3]int{ // m, n, k
	{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {1, 37, 9}, {1, 70, 33}, {41, 1, 17}, {9, 1, 70},
	{1, 1030, 20}, {1030, 1, 3}, {10, 64, 1}, {13, 7, 1}, {64, 1030, 1}, {13, 7, 9}, {7, 13, 9}, {6, 8, 4}, {8, 16, 3},
	{63, 65, 64}, {65, 63, 63}, {64, 64, 64}, {1, 64, 784}, {1, 10, 64}, {64, 10, 64},
	{10, 64, 64}, {64, 64, 10}, {17, 33, 257}, {5, 300, 513}, {129, 24, 20},
	{230, 20, 300}, {1030, 20, 20}, {0, 5, 5}, {5, 0, 5}, {5, 5, 0},
}

func TestGemmAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	w := NewWorkspace()
	scalars := []float64{0, 1, -1, 0.5}
	for _, kr := range kernels() {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				alpha, beta := scalars[rng.IntN(4)], scalars[rng.IntN(4)]
				pad := rng.IntN(3) * 3
				p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], pad, alpha, beta)
				t.Run(kr.name+"/"+p.String(), func(t *testing.T) {
					requireClose(t, p, p.run(w, kr), p.want(), 1e-12)
				})
			}
		}
	}
}

// TestGemmSmallBlocks shrinks the blocking limits so that small products are cut into
// many k blocks, row blocks and column panels, each with edges.
func TestGemmSmallBlocks(t *testing.T) {
	defer func(kc, a, b int) { kcMax, blockA, blockB = kc, a, b }(kcMax, blockA, blockB)
	rng := rand.New(rand.NewPCG(7, 1))
	w := NewWorkspace()
	for _, kr := range kernels() {
		// Three row slivers and two column slivers per block at depth 7.
		kcMax, blockA, blockB = 7, 3*kr.mr*7, 2*kr.nr*7
		for _, s := range [][3]int{{50, 70, 30}, {3*kr.mr + 1, 2*kr.nr + 1, 14}, {5*kr.mr - 1, 3*kr.nr + 3, 15}} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], 1, 0.5, -1)
				bl := plan(kr, p.m, p.n, p.k)
				require.Greater(t, bl.nk, 1, "%s %v: want several k blocks", kr.name, p)
				require.Greater(t, bl.nm, 1, "%s %v: want several row blocks", kr.name, p)
				require.Less(t, bl.nc, p.n, "%s %v: want several column panels", kr.name, p)
				requireClose(t, p, p.run(w, kr), p.want(), 1e-12)
			}
		}
	}
}

// TestGemmAlphaBeta crosses every alpha and beta on one awkward shape.
func TestGemmAlphaBeta(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	w := NewWorkspace()
	for _, kr := range kernels() {
		for _, alpha := range []float64{0, 1, -1, 0.5} {
			for _, beta := range []float64{0, 1, -1, 0.5} {
				p := newProblem(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, 19, 21, 23, 2, alpha, beta)
				t.Run(kr.name+"/"+p.String(), func(t *testing.T) {
					requireClose(t, p, p.run(w, kr), p.want(), 1e-12)
				})
			}
		}
	}
}

// TestGemmBetaZeroIgnoresNaN checks that C is not read when beta is zero.
func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	for _, kr := range kernels() {
		for _, alpha := range []float64{0, 1} {
			p := newProblem(rng, false, true, 13, 17, 5, 0, alpha, 0)
			for i := range p.c {
				p.c[i] = math.NaN()
			}
			got := p.run(NewWorkspace(), kr)
			for i, v := range got {
				require.False(t, math.IsNaN(v), "%s alpha=%g: C[%d] is NaN", kr.name, alpha, i)
			}
		}
	}
}

// TestKernelsAgree compares the assembly kernel with the Go kernel on the products of pcnet.
func TestKernelsAgree(t *testing.T) {
	if kernel.name == goKernel.name {
		t.Skip("no assembly kernel on this machine")
	}
	rng := rand.New(rand.NewPCG(4, 1))
	w := NewWorkspace()
	for _, s := range benchShapes {
		if s.m*s.n*s.k > 4<<20 {
			continue // the Go kernel is slow under the race detector
		}
		p := newProblem(rng, s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0.5)
		asm, pure := p.run(w, kernel), p.run(w, goKernel)
		for i := range asm {
			require.InDelta(t, pure[i], asm[i], 1e-12*(1+math.Abs(pure[i]))*float64(s.k), "%s %v: element %d", s.name, p, i)
		}
	}
}

// TestDeterministic checks that the result does not depend on the scratch contents or the
// workspace: two runs after filling the scratch with garbage give identical bits.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	for _, kr := range kernels() {
		for _, s := range append([][3]int{{65, 530, 300}, {530, 70, 64}}, shapes...) {
			p := newProblem(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, s[0], s[1], s[2], 1, 0.5, -1)
			w1, w2 := NewWorkspace(), NewWorkspace()
			for i := range w2.a {
				w2.a[i] = math.NaN()
			}
			for i := range w2.b {
				w2.b[i] = rng.NormFloat64()
			}
			first := p.run(w1, kr)
			second := p.run(w2, kr)
			third := p.run(w1, kr)
			require.Equal(t, first, second, "%s %v: results differ with another workspace", kr.name, p)
			require.Equal(t, first, third, "%s %v: results differ on a reused workspace", kr.name, p)
		}
	}
}

func TestGemmAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 1))
	p := newProblem(rng, false, true, 64, 64, 784, 0, 1, 1)
	call := func() {
		Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
	}
	call()
	require.Zero(t, testing.AllocsPerRun(20, call), "Gemm allocates")
}

// idleCounts reads the free list's count of workspaces made and of those idle.
func idleCounts() (created, free int) {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	return idle.created, len(idle.free)
}

// TestReserve holds workspaces the way overlapping Gemm calls do: after Reserve(n) at
// least n wait on the free list, taking them all makes none, and only a call beyond them
// makes one.
func TestReserve(t *testing.T) {
	const n = 4
	Reserve(n)
	created, free := idleCounts()
	require.GreaterOrEqual(t, free, n, "Reserve(%d) left too few idle workspaces", n)
	held := make([]*Workspace, 0, free+1)
	defer func() {
		for _, w := range held {
			idle.put(w)
		}
	}()
	for range free {
		held = append(held, idle.get())
	}
	after, _ := idleCounts()
	require.Equal(t, created, after, "%d overlapping calls made a workspace after Reserve", free)
	held = append(held, idle.get())
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
		q := newProblem(rand.New(rand.NewPCG(7, uint64(g))), g%2 == 0, g/2 == 0, 64, 70, 100, 1, 1, 0)
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
