package gemm

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// snapshot is a Finisher that copies each block of C, when it is handed it, into a copy of
// C, and counts how often each element was handed: once the batch has returned, the copy
// equals C only if every block was final when it was finished, and the counts are all one
// only if the blocks covered C exactly once.
type snapshot[T Float] struct {
	mu     sync.Mutex
	c      []T // the product's C
	ldc, n int
	copied []T // m x n
	times  []int
}

func newSnapshot[T Float](c []T, ldc, m, n int) *snapshot[T] {
	return &snapshot[T]{c: c, ldc: ldc, n: n, copied: make([]T, m*n), times: make([]int, m*n)}
}

func (s *snapshot[T]) Finish(i0, j0, m, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := i0; i < i0+m; i++ {
		for j := j0; j < j0+n; j++ {
			s.copied[i*s.n+j] = s.c[i*s.ldc+j]
			s.times[i*s.n+j]++
		}
	}
}

// check requires that the blocks were final when finished and covered C once.
func (s *snapshot[T]) check(t *testing.T, name string) {
	t.Helper()
	for e, n := range s.times {
		require.Equal(t, 1, n, "%s: element (%d, %d) finished %d times", name, e/s.n, e%s.n, n)
		require.Equal(t, s.c[e/s.n*s.ldc+e%s.n], s.copied[e], "%s: element (%d, %d) changed after it was finished", name, e/s.n, e%s.n)
	}
}

// batchShapes are products for a batch: tiled ones, small ones run whole, and the special
// cases (matrix-vector, outer product, k = 0).
var batchShapes = [][3]int{
	{64, 1024, 64}, {65, 1000, 300}, {130, 1030, 33}, {1031, 67, 71},
	{7, 9, 5}, {1, 300, 200}, {200, 1, 300}, {40, 50, 1}, {10, 12, 0},
}

// TestBatchBitIdentical checks that every product of a batch, of one to three products,
// gets the bits Gemm gives it alone run whole, at GOMAXPROCS 1, 2 and 3, and that each
// product's Then finishes every block of its C exactly once, after the block is final.
func TestBatchBitIdentical(t *testing.T) {
	testBatch[float64](t, rand.New(rand.NewPCG(21, 1)))
	testBatch[float32](t, rand.New(rand.NewPCG(21, 2)))
}

func testBatch[T Float](t *testing.T, rng *rand.Rand) {
	kr := *kernelOf[T]()
	w := NewWorkspace[T]()
	for round := range 12 {
		var probs []problem[T]
		var wants [][]T
		for i := range 1 + round%3 {
			s := batchShapes[rng.IntN(len(batchShapes))]
			tr := transposes[rng.IntN(4)]
			p := newProblem[T](rng, tr[0], tr[1], s[0], s[1], s[2], i%2, 1, []T{0, 1, 0.5}[i%3])
			probs = append(probs, p)
			wants = append(wants, p.run(NewWorkspace[T](), kr)) // Gemm alone, checked against the whole product elsewhere
		}
		for _, procs := range []int{1, 2, 3} {
			withProcs(procs, func() {
				ps := make([]Product[T], len(probs))
				snaps := make([]*snapshot[T], len(probs))
				for i, p := range probs {
					c := append([]T(nil), p.c...)
					snaps[i] = newSnapshot(c, p.ldc, p.m, p.n)
					ps[i] = Product[T]{TA: p.tA, TB: p.tB, M: p.m, N: p.n, K: p.k, Alpha: p.alpha, A: p.a, Lda: p.lda, B: p.b, Ldb: p.ldb, Beta: p.beta, C: c, Ldc: p.ldc, Then: snaps[i]}
				}
				w.Batch(ps...)
				for i, p := range probs {
					require.Equal(t, wants[i], ps[i].C, "%v in a batch of %d at GOMAXPROCS=%d differs from Gemm's", p, len(probs), procs)
					snaps[i].check(t, p.String())
				}
			})
		}
		require.Zero(t, busy.Load(), "helper tokens left taken")
	}
}

// TestBatchAllocatesNothing: once warmed up, a batch of two tiled products with a Then
// held by the caller allocates nothing (the second product's shared packing is made once).
func TestBatchAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 1))
	p := newProblem[float32](rng, false, false, 64, 1024, 256, 0, 1, 0)
	q := newProblem[float32](rng, true, false, 256, 1024, 64, 0, 1, 0)
	fin := &countBlocks{}
	call := func() {
		Batch(Product[float32]{M: p.m, N: p.n, K: p.k, Alpha: 1, A: p.a, Lda: p.lda, B: p.b, Ldb: p.ldb, C: p.c, Ldc: p.ldc, Then: fin},
			Product[float32]{TA: true, M: q.m, N: q.n, K: q.k, Alpha: 1, A: q.a, Lda: q.lda, B: q.b, Ldb: q.ldb, C: q.c, Ldc: q.ldc})
	}
	withProcs(2, func() {
		call()
		require.Zero(t, testing.AllocsPerRun(20, call))
	})
}

// countBlocks is a Finisher that counts its calls.
type countBlocks struct {
	mu sync.Mutex
	n  int
}

func (c *countBlocks) Finish(_, _, _, _ int) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}
