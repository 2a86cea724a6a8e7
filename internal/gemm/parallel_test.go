package gemm

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every helper of a
// product must be finished when Gemm returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// withProcs runs f at GOMAXPROCS n and restores the setting.
func withProcs(n int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	f()
}

// tiledShapes are products cut into several tiles, most with edge tiles in both
// directions: m, n, k.
var tiledShapes = [][3]int{
	{64, 1024, 64}, {67, 1031, 129}, {130, 1030, 33}, {1031, 67, 71}, {65, 1000, 300}, {37, 2049, 67}, {301, 299, 53},
	{200, 520, 330}, // op(A) too large to share: cut over rows and columns
}

// TestTiling checks the grids: whole slivers, covering C exactly, more than one tile only
// for products of at least twice tileWork, at most maxTiles, none narrower than minRows x
// minCols along a cut dimension.
func TestTiling(t *testing.T) {
	for _, kr := range [][2]int{{8, 16}, {6, 8}, {8, 32}, {6, 16}, {4, 4}} {
		for _, s := range append(tiledShapes, [][3]int{{1, 1, 1}, {64, 64, 64}, {64, 64, 784}, {1024, 1024, 1024}, {3, 5000, 5000}, {5000, 3, 5000}}...) {
			m, n, k := s[0], s[1], s[2]
			g := tiling(kr[0], kr[1], m, n, k)
			require.Zero(t, g.rows%kr[0]*min(g.gm-1, 1), "mr=%d %v: tile rows %d not whole slivers", kr[0], s, g.rows)
			require.Zero(t, g.cols%kr[1]*min(g.gn-1, 1), "nr=%d %v: tile columns %d not whole slivers", kr[1], s, g.cols)
			require.True(t, g.rows*(g.gm-1) < m && m <= g.rows*g.gm, "%v %v: %d row tiles of %d do not cover %d rows exactly", kr, s, g.gm, g.rows, m)
			require.True(t, g.cols*(g.gn-1) < n && n <= g.cols*g.gn, "%v %v: %d column tiles of %d do not cover %d columns exactly", kr, s, g.gn, g.cols, n)
			tiles := g.gm * g.gn
			require.LessOrEqual(t, tiles, maxTiles, "%v %v", kr, s)
			require.True(t, g.gm == 1 || g.rows >= minRows, "%v %v: tiles of %d rows", kr, s, g.rows)
			require.True(t, g.gn == 1 || g.cols >= minCols, "%v %v: tiles of %d columns", kr, s, g.cols)
			if m*n*k < 2*tileWork {
				require.Equal(t, 1, tiles, "%v %v: a small product is cut", kr, s)
			}
			requireCovers(t, g, m, n, kr[1])
		}
	}
	// The products of a batch of 64 at width 1024 share op(A): only the columns are cut,
	// into tiles minCols wide.
	g := tiling(8, 16, 64, 1024, 1024)
	require.Equal(t, grid{rows: 64, cols: 128, gm: 1, gn: 8}, g, "64x1024x1024 (mr=8, nr=16)")
	g = tiling(8, 32, 1024, 1024, 64)
	require.Equal(t, grid{rows: 1024, cols: 128, gm: 1, gn: 8}, g, "1024x1024x64 (mr=8, nr=32)")
	g = tiling(8, 32, 128, 1024, 1024) // op(A) too large to share: 128-column tiles at least
	require.Equal(t, 128, g.cols, "128x1024x1024 (mr=8, nr=32): %+v", g)
	g = tiling(8, 32, 200, 520, 330)
	require.Greater(t, g.gm, 1, "200x520x330 (mr=8, nr=32): %+v", g)
	require.Greater(t, g.gn, 1, "200x520x330 (mr=8, nr=32): %+v", g)
}

// requireCovers checks that the tiles of g cover an m x n C exactly once, in whole
// slivers but at the edges.
func requireCovers(t *testing.T, g grid, m, n, nr int) {
	t.Helper()
	seen := make([]int, m*n)
	for tile := range g.tiles() {
		i0, j0, mt, nt := g.at(tile, m, n)
		require.True(t, mt > 0 && nt > 0 && i0+mt <= m && j0+nt <= n, "%+v %dx%d: tile %d is [%d,+%d) x [%d,+%d)", g, m, n, tile, i0, mt, j0, nt)
		require.True(t, nt%nr == 0 || j0+nt == n, "%+v: tile %d is %d wide, not whole slivers of %d", g, tile, nt, nr)
		for i := i0; i < i0+mt; i++ {
			for j := j0; j < j0+nt; j++ {
				seen[i*n+j]++
			}
		}
	}
	for e, c := range seen {
		require.Equal(t, 1, c, "%+v %dx%d: element (%d, %d) is in %d tiles", g, m, n, e/n, e%n, c)
	}
}

// TestTilingSharesA checks that a product whose op(A) fits the shared packing is cut over
// its columns only, so that its tiles pack no more than the whole product.
func TestTilingSharesA(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	for range 2000 {
		mr, nr := []int{8, 6, 4}[rng.IntN(3)], []int{32, 16, 8, 4}[rng.IntN(4)]
		m, n, k := 1+rng.IntN(2048), 1+rng.IntN(2048), 1+rng.IntN(1024)
		g := tiling(mr, nr, m, n, k)
		if roundUp(m, mr)*k <= paElems {
			require.Equal(t, 1, g.gm, "mr=%d nr=%d %dx%dx%d: op(A) fits the shared packing but the rows are cut: %+v", mr, nr, m, n, k, g)
		}
	}
}

// TestTiledBitIdentical checks that a product cut into tiles and run at GOMAXPROCS 1, 2
// and 3 gives the bits of the same product run whole on one goroutine, for every kernel
// in both precisions.
func TestTiledBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 1))
	for _, kr := range append(asmKernels(), goKernel64) {
		testTiledBitIdentical(t, rng, kr)
	}
	for _, kr := range append(asmKernels32(), goKernel32) {
		testTiledBitIdentical(t, rng, kr)
	}
}

func testTiledBitIdentical[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	w := NewWorkspace[T]()
	for i, s := range tiledShapes {
		tr := transposes[i%4]
		p := newProblem[T](rng, tr[0], tr[1], s[0], s[1], s[2], i%3, 0.5, -1)
		require.Greater(t, tiling(kr.mr, kr.nr, p.m, p.n, p.k).gm*tiling(kr.mr, kr.nr, p.m, p.n, p.k).gn, 1, "%s %v is not cut", kr.name, p)
		want := p.whole(w, kr)
		for _, procs := range []int{1, 2, 3} {
			withProcs(procs, func() {
				require.Equal(t, want, p.run(w, kr), "%s %v at GOMAXPROCS=%d: tiled result differs from the whole product", kr.name, p, procs)
			})
		}
		require.Zero(t, busy.Load(), "helper tokens left taken")
	}
}

// TestConcurrentProducts runs tiled products on several goroutines at once at
// GOMAXPROCS 3, so that they compete for the two helper tokens: every result must still
// be the whole product's, and every token must come back.
func TestConcurrentProducts(t *testing.T) {
	testConcurrent[float64](t)
	testConcurrent[float32](t)
}

func testConcurrent[T Float](t *testing.T) {
	kr := *kernelOf[T]()
	const callers = 4
	probs := make([]problem[T], callers)
	wants := make([][]T, callers)
	for g := range probs {
		s := tiledShapes[g]
		probs[g] = newProblem[T](rand.New(rand.NewPCG(10, uint64(g))), g%2 == 0, g/2 == 0, s[0], s[1], s[2], 1, 1, 0.5)
		wants[g] = probs[g].whole(NewWorkspace[T](), kr)
	}
	got := make([][][]T, callers)
	withProcs(3, func() {
		var wg sync.WaitGroup
		for g, p := range probs {
			wg.Go(func() {
				for range 3 {
					c := append([]T(nil), p.c...)
					Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
					got[g] = append(got[g], c)
				}
			})
		}
		wg.Wait()
	})
	for g := range probs {
		for _, c := range got[g] {
			require.Equal(t, wants[g], c, "%v: a concurrent tiled product differs from the whole one", probs[g])
		}
	}
	require.Zero(t, busy.Load(), "helper tokens left taken")
}

// TestAcquire checks the token pool: GOMAXPROCS tokens in all, shared by the callers
// running tiles (who take theirs without asking) and their helpers.
func TestAcquire(t *testing.T) {
	withProcs(1, func() {
		busy.Add(1)
		require.Zero(t, acquire(5), "a caller at GOMAXPROCS 1 got a helper")
		busy.Add(-1)
	})
	withProcs(3, func() {
		busy.Add(1)
		require.Equal(t, 1, acquire(1))
		require.Equal(t, 1, acquire(5), "one token was left")
		require.Zero(t, acquire(1), "the pool is empty")
		busy.Add(1) // a second caller: still no helper for anyone
		require.Zero(t, acquire(1), "a helper beyond the pool")
		busy.Add(-4)
	})
	withProcs(4, func() {
		busy.Add(2) // two callers
		require.Equal(t, 2, acquire(5), "two callers at GOMAXPROCS 4 leave two tokens")
		busy.Add(-4)
	})
	require.Zero(t, busy.Load())
}

// TestSharedPackFallback runs a split product's tiles on one worker while one packing task
// of the shared op(A) is still taken and not done (a worker the host has descheduled):
// the tiles must not wait for it but pack op(A) themselves, with the whole product's bits.
func TestSharedPackFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	for i, s := range [][3]int{{64, 1024, 64}, {64, 1000, 300}, {130, 1030, 33}} {
		kr := *kernelOf[float32]()
		p := newProblem[float32](rng, i%2 == 1, i == 0, s[0], s[1], s[2], 1, 1, 0.5)
		want := p.whole(NewWorkspace[float32](), kr)
		g := tiling(kr.mr, kr.nr, p.m, p.n, p.k)
		require.Equal(t, 1, g.gm, "%v: op(A) is not shared", p)
		c := append([]float32(nil), p.c...)
		w := NewWorkspace[float32]()
		j := &w.job
		j.reset(&kr, 1)
		j.add(&Product[float32]{TA: p.tA, TB: p.tB, M: p.m, N: p.n, K: p.k, Alpha: p.alpha, A: p.a, Lda: p.lda, B: p.b, Ldb: p.ldb, Beta: p.beta, C: c, Ldc: p.ldc})
		w.share(j)
		q := &j.parts[0]
		require.Greater(t, q.packs, int32(1), "%v", p)
		for task := range q.packs - 1 { // the last task stays taken and not done
			packTask(j.kr, q.tA, q.m, q.k, q.nk, q.a, q.lda, q.pa, int(task))
			q.packed.Add(1)
		}
		j.nextPack.Store(j.packs)
		j.next.Store(0)
		clear(q.pa[len(q.pa)-p.k*kr.mr:]) // where the last task would have packed (nothing yet)
		j.work(w)
		j.drop()
		require.Equal(t, want, c, "%v: tiles that fell back to packing op(A) differ from the whole product", p)
	}
}

// TestLingeringHelpers runs tiled products at GOMAXPROCS 2 and 3 with pauses around
// lingerFor between them, so that callers hand jobs to lingering helpers, start new ones,
// and catch helpers as they give up: every result must be the whole product's, every
// token must come back, and once the products stop, every helper must end by itself
// (lingerFor after its last job; TestMain checks that no goroutine is left).
func TestLingeringHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	kr := *kernelOf[float32]()
	p := newProblem[float32](rng, false, true, 64, 1024, 64, 0, 1, 0)
	want := p.whole(NewWorkspace[float32](), kr)
	d := time.Duration(lingerFor.Load())
	pauses := []time.Duration{0, d / 2, d, d * 11 / 10, 2 * d}
	for _, procs := range []int{2, 3} {
		withProcs(procs, func() {
			var wg sync.WaitGroup
			for g := range procs - 1 {
				wg.Go(func() {
					w := NewWorkspace[float32]()
					for i := range 60 {
						c := append([]float32(nil), p.c...)
						w.Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
						require.Equal(t, want, c, "GOMAXPROCS %d, caller %d, product %d", procs, g, i)
						time.Sleep(pauses[(i+g)%len(pauses)])
					}
				})
			}
			wg.Wait()
		})
		require.Zero(t, busy.Load(), "helper tokens left taken")
	}
	require.Eventually(t, func() bool {
		lingerMu.Lock()
		defer lingerMu.Unlock()
		return len(lingering) == 0
	}, time.Second, d, "helpers still lingering long after the last product")
}

// TestLingeringHelperLeavesAtOneCore: a helper lingering when GOMAXPROCS drops to 1 ends
// at once rather than hold the only core for the rest of lingerFor (here made a minute).
func TestLingeringHelperLeavesAtOneCore(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	p := newProblem[float32](rng, false, true, 64, 1024, 64, 0, 1, 0)
	noneLingering := func() bool {
		lingerMu.Lock()
		defer lingerMu.Unlock()
		return len(lingering) == 0
	}
	require.Eventually(t, noneLingering, 10*time.Second, time.Millisecond, "helpers of earlier tests still linger")
	defer lingerFor.Store(lingerFor.Swap(int64(time.Minute)))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
	lingerMu.Lock()
	require.Len(t, lingering, 1, "the product's helper does not linger")
	lingerMu.Unlock()
	runtime.GOMAXPROCS(1)
	require.Eventually(t, noneLingering, 10*time.Second, time.Millisecond, "a helper still lingers at GOMAXPROCS 1")
}
