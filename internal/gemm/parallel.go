package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Every core. A product large enough to pay for it is cut into tiles of C on a grid that
// depends only on its shape and the kernel's mr x nr, never on the number of cores. The
// cut is over the rows and columns of C only, never over k: each element of C is then
// computed by the same micro-kernel, over the same k blocks in the same order, as when the
// product runs whole on one goroutine, so the result is the same bit for bit at every
// GOMAXPROCS and however the tiles are shared out.
//
// The tiles run on the calling goroutine and on helper goroutines. Cores are counted by
// one pool of GOMAXPROCS tokens shared by the whole process: a caller with tiles to run
// takes one for itself, and hands its job to a helper only for each token still free. So
// a product that is the only one running uses every core, and a product that starts while
// the cores are taken by others gets no helper: products running at once share the cores
// rather than oversubscribing them. Nothing waits for a token: a caller that gets no
// helper runs its product whole, which gives the same bits without the tiles' extra
// packing.
//
// A helper is a goroutine started for a product that, once done with it, lingers for
// lingerFor, spinning on its core, for the next product's job, and ends when none comes.
// Go parks an idle core, and a product that wakes one for a new goroutine waits for it
// (docs/bench.md, "waking an idle core"); the products of a backprop or predictive-coding
// step follow each other tens of microseconds apart, so a lingering helper takes the next
// one's tiles at once. A lingering helper holds no token, and every helper ends by itself
// within lingerFor of its last job, so nothing has to stop it.

// The grid's limits. A tile packs its own slivers of op(B), so every row of tiles packs
// the columns of op(B) again, and its own slivers of op(A), every column of tiles packing
// the rows of op(A) again, except that when the tiles span all the rows (one row of
// tiles, as for a batch of 64) op(A) is packed once for them all, if it fits the
// workspace (paElems). The narrower the tiles, the more of the time goes to packing
// instead of FMAs: on the 64x1024x1024 product in float32 (AVX-512, one core of a machine
// shared with other work, so roughly), 64 tiles 32 columns wide, each packing op(A), ran at
// half the speed of the whole product, and 8 tiles 128 wide as fast within the noise.
// Tiles of at least minRows x minCols and 2^21 multiply-adds keep the packing small, and 16
// tiles are enough to share out among the cores of the machines pcnet runs on; a grid that
// depends on the shape alone cannot be fitted to the number of cores. Where op(A) is
// packed once for all the tiles, a column of tiles packs nothing again, but tiles are
// still at least minCols wide: narrower ones would leave less of the last one to run
// alone while the other cores wait (some half a tile of idle core on average), but each
// costs more than that saves. In a backprop step at width 1024 and batch 64 on two cores
// (issue 18), whose products then make 8 tiles 128 columns wide, 16 tiles 64 wide made
// the step 1-4% slower in both precisions (the median of the step time ratios, in eight
// runs that alternated the two grids step by step in one process; a machine shared with
// other work), and 4 tiles 256 wide 0.6-4% slower (two runs on the quiet machine).
const (
	// tileWork is the least work of a tile, in multiply-adds (4.2 MFLOP: some 40 µs in
	// float32 and 80 µs in float64 with AVX-512); a product of less than twice this runs
	// whole on the calling goroutine, as starting a helper and waking a core for it costs
	// microseconds.
	tileWork = 1 << 21
	// maxTiles bounds the tiles of one product.
	maxTiles = 16
	// minRows and minCols are the least height and width of a tile where there is more
	// than one tile along that dimension.
	minRows, minCols = 64, 128
	// maxPool bounds the helper tokens, whatever GOMAXPROCS is.
	maxPool = 255
)

var (
	// busy counts the tokens taken: callers running tiles, and their helpers.
	busy atomic.Int32
	// pending carries a job to each helper started for it; a helper may take another
	// caller's job, which is as good, since each job has exactly as many entries as it
	// counts helpers. The channel never holds more than the tokens taken.
	pending = make(chan helpJob, maxPool)
)

// helpJob is a job[T] of either precision, as the helpers see it.
type helpJob interface {
	help() // runs the job's tiles
	done() // says the helper is done with the job
}

// maxHelpers is the most helpers that can run at once: the size of the token pool,
// GOMAXPROCS (read at each call, so that a change takes effect at once), less the caller.
func maxHelpers() int { return min(runtime.GOMAXPROCS(0)-1, maxPool) }

// acquire takes up to want tokens without waiting and returns how many it took. The
// caller holds a token already.
func acquire(want int) int {
	limit := int32(maxHelpers() + 1)
	for {
		cur := busy.Load()
		n := min(int32(want), limit-cur)
		if n <= 0 {
			return 0
		}
		if busy.CompareAndSwap(cur, cur+n) {
			return int(n)
		}
	}
}

// grid is the cut of C into tiles: gm x gn tiles of rows x cols (the last row and column
// of tiles may be smaller).
type grid struct {
	rows, cols int // multiples of the kernel's mr and nr
	gm, gn     int
}

// tiles is the number of tiles of the grid.
func (g grid) tiles() int { return g.gm * g.gn }

// at returns the first row, the first column and the shape of tile t (row-major) of an
// m x n product.
func (g grid) at(t, m, n int) (i0, j0, mt, nt int) {
	i0, j0 = t/g.gn*g.rows, t%g.gn*g.cols
	return i0, j0, min(g.rows, m-i0), min(g.cols, n-j0)
}

// shareA says whether tiling cuts only the columns of a product whose op(A) fits the
// shared packing (see tiling). It is a variable only so that BenchmarkShareA can time the
// grid that would cut the rows too against it.
var shareA = true

// tiling cuts an m x n x k product into about m*n*k/tileWork tiles (at most maxTiles) of
// at least minRows x minCols: the grid of whole slivers with the most tiles up to that
// count and, among those, the least packing, gn*m*k for the rows of op(A) packed by each
// column of tiles and gm*n*k for the columns of op(B) packed by each row of tiles.
//
// When all of op(A) fits the workspace's shared packing (paElems), only the columns are
// cut: runJob then packs op(A) once for all the tiles, and each tile packs only its own
// columns of op(B), so the tiles pack exactly what the whole product does. This is the
// weight VJP of a batch, deltaᵀ v (1024x1024x64 at width 1024 and batch 64), which a 4x4
// grid made pack both operands four times over: about 6% of a float32 backprop step's CPU
// time on two cores (docs/design.md §6, deterministic products). It cuts that product
// into 8 tiles 128 columns wide, as it does the forward product and the input VJP at
// batch 64 (64x1024x1024).
func tiling(mr, nr, m, n, k int) grid {
	one := grid{rows: m, cols: n, gm: 1, gn: 1}
	want := int(min(int64(m)*int64(n)*int64(k)/tileWork, maxTiles)) // int64: 32-bit platforms
	if want < 2 {
		return one
	}
	maxGM := min(want, ceilDiv(m, mr), max(1, m/minRows))
	if sharesA(mr, m, k) {
		maxGM = 1
	}
	best, bestTiles, bestCost := one, 1, 0
	for gm := 1; gm <= maxGM; gm++ {
		gn := min(ceilDiv(want, gm), ceilDiv(n, nr), max(1, n/minCols))
		g := grid{rows: roundUp(ceilDiv(m, gm), mr), cols: roundUp(ceilDiv(n, gn), nr)}
		g.gm, g.gn = ceilDiv(m, g.rows), ceilDiv(n, g.cols)
		tiles, cost := min(g.gm*g.gn, want), g.gn*m+g.gm*n
		if tiles > bestTiles || tiles == bestTiles && cost < bestCost {
			best, bestTiles, bestCost = g, tiles, cost
		}
	}
	return best
}

// sharesA says whether tiling cuts an m-row product of depth k over its columns only,
// with all of op(A) packed once for the tiles.
func sharesA(mr, m, k int) bool { return shareA && roundUp(m, mr)*k <= paElems }

// part is one product of a job, with its grid and the shared packing of its op(A).
type part[T Float] struct {
	tA, tB        bool
	m, n, k       int
	alpha, beta   T
	a, b, c       []T
	lda, ldb, ldc int
	then          Finisher
	g             grid
	first         int32        // the job's index of its first tile
	pa            []T          // all of op(A) packed, when the tiles share it (nil: they pack)
	packs         int32        // the tasks that pack pa (see packTask), 0 when pa is nil
	nk            int          // pa's k blocks
	packed        atomic.Int32 // the packing tasks done
}

// job is the products of one Gemm or Batch call being cut into tiles, as its caller's
// workspace holds them. The tiles of all its parts are numbered in a row, part by part;
// so are the packing tasks of their shared op(A)s, which the workers run first.
type job[T Float] struct {
	kr       *microKernel[T]
	parts    []part[T]
	fmas     int64 // multiply-adds of all the parts
	tiles    int32
	packs    int32
	nextPack atomic.Int32 // the next packing task to run
	next     atomic.Int32 // the next tile to run
	active   atomic.Int32 // helpers handed the job and not done with it
}

// reset readies the job for a call with kernel kr and up to n products.
func (j *job[T]) reset(kr *microKernel[T], n int) {
	j.kr, j.fmas, j.tiles, j.packs = kr, 0, 0, 0
	if cap(j.parts) < n {
		// Parts hold atomics, so they are not copied: a job that needs more makes new ones
		// (once per workspace, for its largest batch).
		j.parts = make([]part[T], 0, n)
	}
	j.parts = j.parts[:0]
}

// add appends the checked product p, which is not one of gemm's special cases, as a part.
func (j *job[T]) add(p *Product[T]) {
	j.parts = j.parts[:len(j.parts)+1] // reset made room
	q := &j.parts[len(j.parts)-1]
	q.tA, q.tB, q.m, q.n, q.k = p.TA, p.TB, p.M, p.N, p.K
	q.alpha, q.a, q.lda, q.b, q.ldb, q.beta, q.c, q.ldc = p.Alpha, p.A, p.Lda, p.B, p.Ldb, p.Beta, p.C, p.Ldc
	q.then = p.Then
	q.g = tiling(j.kr.mr, j.kr.nr, p.M, p.N, p.K)
	q.first = j.tiles
	q.pa, q.packs, q.nk = nil, 0, 0
	j.tiles += int32(q.g.tiles())
	j.fmas += int64(p.M) * int64(p.N) * int64(p.K)
}

// drop lets go of the callers' matrices, which the idle workspace would otherwise keep
// alive.
func (j *job[T]) drop() {
	for i := range j.parts {
		q := &j.parts[i]
		q.a, q.b, q.c, q.then, q.pa = nil, nil, nil, nil, nil
	}
	j.parts = j.parts[:0]
	j.kr = nil
}

// runJob runs the job's parts on tiles, on the calling goroutine and on as many helpers as
// the pool grants, up to one per tile beyond the first. When the parts are too small to
// pay for a helper (less than twice tileWork in all), or the pool grants none, each part
// runs whole, which spares the tiles' repacking and gives the same bits.
func (w *Workspace[T]) runJob(j *job[T]) {
	defer j.drop()
	helpers := 0
	if j.tiles > 1 && j.fmas >= 2*tileWork {
		busy.Add(1) // the caller's own core
		helpers = acquire(int(j.tiles) - 1)
		if helpers == 0 {
			busy.Add(-1)
		}
	}
	if helpers == 0 {
		for i := range j.parts {
			q := &j.parts[i]
			w.run(j.kr, q.tA, q.tB, q.m, q.n, q.k, q.alpha, q.a, q.lda, q.b, q.ldb, q.beta, q.c, q.ldc, nil)
			if q.then != nil {
				q.then.Finish(0, 0, q.m, q.n)
			}
		}
		return
	}
	w.share(j)
	j.nextPack.Store(0)
	j.next.Store(0)
	j.active.Store(int32(helpers))
	started := false
	for range helpers {
		if !handToLingerer(j) {
			pending <- j
			go helper()
			started = true
		}
	}
	if started {
		// The last helper started waits in this core's run-next slot, where an idle core
		// steals it only after a sleep, and the cores that are woken for the helpers may
		// give up before then (docs/bench.md, "waking an idle core"). Yielding runs that
		// helper here at once and puts the caller on the global run queue, which an idle
		// core takes from without delay.
		runtime.Gosched()
	}
	j.work(w)
	busy.Add(-1) // the caller is done with the core; its helpers give theirs back
	j.wait()
}

// wait returns once every helper handed the job is done with it. It spins rather than
// blocks: a helper is at most one tile from done, and a caller that blocked would be
// woken on the helper's core, where the helper lingers (see linger), and have to be
// stolen back. It yields now and then, so that whatever else is runnable here runs, the
// helper included if the host has put it on this core.
func (j *job[T]) wait() {
	for i := 1; j.active.Load() > 0; i++ {
		if i%spinYield == 0 {
			runtime.Gosched()
		}
	}
}

// spinYield is how many checks a spinning worker makes between yields.
const spinYield = 256

// helper runs jobs' tiles. It is started by runJob for a job that found no lingering
// helper, and after each job lingers for another (linger) before it ends.
func helper() {
	j := <-pending
	var h *lingerer
	for {
		j.help()
		if maxHelpers() == 0 {
			j.done()
			return
		}
		if h == nil {
			h = &lingerer{jobs: make(chan helpJob, 1)}
		}
		// Listed before the caller can see the job done, so that its next product
		// finds this helper instead of starting another.
		lingerMu.Lock()
		lingering = append(lingering, h)
		lingerMu.Unlock()
		j.done()
		if j = h.linger(); j == nil {
			return
		}
	}
}

// help runs tiles of the job on a helper, with a workspace from the free list.
func (j *job[T]) help() {
	f := idleOf[T]()
	w := f.get()
	j.work(w)
	f.put(w)
}

// done gives the helper's token back, then tells the caller, which spins on active.
func (j *job[T]) done() {
	busy.Add(-1)
	j.active.Add(-1)
}

// lingerFor is how long a helper waits for another job after one, spinning on the core
// it holds: more than the gaps between the products of a step (tens of microseconds, a
// few hundred where a loss or an optimiser step comes between). On the 2-core machine of
// docs/bench.md, paired step by step with helpers that end at once (medians of the step
// ratios, two to four runs), it made a backprop step at [256]x8 10-17% faster in float32
// and 7-9% in float64, and an exact FPA-PC update under the event schedule (one run per
// engine) 14-15% and 11-12%; at width 1024, where a product's tiles run for hundreds of
// microseconds, backprop moved by -4% to +3%.
var lingerFor atomic.Int64 // nanoseconds

func init() { lingerFor.Store(int64(300 * time.Microsecond)) }

// A lingerer is a helper waiting for its next job.
type lingerer struct{ jobs chan helpJob }

var (
	lingerMu  sync.Mutex
	lingering []*lingerer // the helpers waiting for a job, the latest last
)

// handToLingerer hands j to a lingering helper, if there is one, and reports whether it did.
func handToLingerer(j helpJob) bool {
	lingerMu.Lock()
	n := len(lingering)
	if n == 0 {
		lingerMu.Unlock()
		return false
	}
	h := lingering[n-1]
	lingering[n-1] = nil
	lingering = lingering[:n-1]
	lingerMu.Unlock()
	h.jobs <- j // buffered: h takes it when it next looks
	return true
}

// linger waits up to lingerFor for a job, spinning, and returns it, or nil once the time
// is up (or GOMAXPROCS has dropped to 1) and h has taken itself off the list. A job handed
// to h after that is still taken: h was off the list only if no caller took it.
func (h *lingerer) linger() helpJob {
	deadline := time.Now().Add(time.Duration(lingerFor.Load()))
	for i := 1; ; i++ {
		select {
		case j := <-h.jobs:
			return j
		default:
		}
		if i%spinYield != 0 {
			continue
		}
		if time.Now().After(deadline) || maxHelpers() == 0 {
			lingerMu.Lock()
			for k, o := range lingering {
				if o == h {
					lingering = append(lingering[:k], lingering[k+1:]...)
					lingerMu.Unlock()
					return nil
				}
			}
			lingerMu.Unlock()
			return <-h.jobs // a caller took h off the list: its job is on the way
		}
		runtime.Gosched()
	}
}

// share readies the shared packing of op(A) for each part cut over its columns only: every
// tile would pack all of op(A) again, so it is packed once for them all, in tasks that the
// caller and its helpers share out before they take tiles.
func (w *Workspace[T]) share(j *job[T]) {
	j.packs = 0
	for i := range j.parts {
		q := &j.parts[i]
		q.packed.Store(0)
		if q.g.gm == 1 && q.g.tiles() > 1 {
			pa, tasks, nk := w.sharedPack(j.kr, q.m, q.k, i)
			q.pa, q.packs, q.nk = pa, int32(tasks), nk
			j.packs += q.packs
		}
	}
}

// work runs the packing tasks of the shared op(A)s, then tiles until none is left.
// Whichever worker runs first packs: the helper that runJob's yield runs on the caller's
// core at once packs while the caller waits for a woken core, and both pack once both run.
func (j *job[T]) work(w *Workspace[T]) {
	for {
		t := j.nextPack.Add(1) - 1
		if t >= j.packs {
			break
		}
		q := &j.parts[0]
		for i := 1; t >= q.packs; i++ {
			t -= q.packs
			q = &j.parts[i]
		}
		packTask(j.kr, q.tA, q.m, q.k, q.nk, q.a, q.lda, q.pa, int(t))
		q.packed.Add(1)
	}
	for {
		t := j.next.Add(1) - 1
		if t >= j.tiles {
			return
		}
		i := len(j.parts) - 1
		for t < j.parts[i].first {
			i--
		}
		q := &j.parts[i]
		q.tile(j.kr, w, int(t-q.first))
	}
}

// spinPack bounds the yields of a worker that waits for the packing tasks other workers
// are running (each some microseconds) before it packs op(A) for a tile itself.
const spinPack = 64

// sharedA is the shared packing of op(A) once every packing task is done. While one is
// still running on another worker (which the host may have descheduled) it waits a
// little, then returns nil: the tile then packs its own op(A), which gives the same bits.
func (q *part[T]) sharedA() []T {
	for range spinPack {
		if q.packed.Load() == q.packs {
			return q.pa
		}
		runtime.Gosched()
	}
	return nil
}

// tile runs tile t of the part's grid as a product of its own, with all of op(A) packed in
// pa or packing its own, then finishes its block of C.
func (q *part[T]) tile(kr *microKernel[T], w *Workspace[T], t int) {
	i0, j0, mt, nt := q.g.at(t, q.m, q.n)
	var a, b []T
	if q.tA {
		a = q.a[i0:]
	} else {
		a = q.a[i0*q.lda:]
	}
	var pa []T
	if q.pa != nil && mt == q.m {
		pa = q.sharedA() // packed for all the rows, so only for tiles that span them
	}
	if q.tB {
		b = q.b[j0*q.ldb:]
	} else {
		b = q.b[j0:]
	}
	w.run(kr, q.tA, q.tB, mt, nt, q.k, q.alpha, a, q.lda, b, q.ldb, q.beta, q.c[i0*q.ldc+j0:], q.ldc, pa)
	if q.then != nil {
		q.then.Finish(i0, j0, mt, nt)
	}
}
