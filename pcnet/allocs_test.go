package pcnet

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// learner starts a network in precision T on the fixture's layers and batch (rounded to
// T) and returns its Learn on that batch and its Close.
func learner[T tensor.Float](t *testing.T, f *fixture, cfg Config) (learn func(context.Context) error, closeNet func() error) {
	layers, batches := inPrecision[T](f.layers, []testBatch{{f.x, f.labels}})
	net, err := New(context.Background(), layers, cfg)
	require.NoError(t, err)
	b := batches[0]
	return func(ctx context.Context) error { _, err := net.Learn(ctx, b.x, b.labels); return err }, net.Close
}

// TestLearnAllocatesNothingAfterWarmUp: once a network has seen a batch size, an update
// allocates nothing, in either precision, on either engine, for every variant, observed or not, with every
// node's products possibly in flight at once. 200 updates after warm-up are counted in
// total, and every allocation among them is traced to its site: none may come from the
// update's own code, and the runtime's own (see runtimeAllocations) are bounded so that
// even one allocation per update of any kind fails.
func TestLearnAllocatesNothingAfterWarmUp(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	// Every allocation is recorded with its stack from here on (MemProfileRate 1 takes
	// effect at each core's next allocation).
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	for _, prec := range []string{"f64", "f32"} {
		for _, v := range Variants() {
			for _, eng := range engines {
				for _, observed := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/%s/observed=%v", prec, v, eng, observed), func(t *testing.T) {
						const h = 3
						f := newBatchFixture(h, 3, 16)
						cfg := Config{Variant: v, Steps: h, Gamma: 0.5, K: 5, Engine: eng, MaxBatch: 16,
							Optimizer: optim.Config{Kind: optim.Adam, LR: 0.001, Beta1: optim.DefaultBeta1, Beta2: optim.DefaultBeta2, Eps: optim.DefaultEps}}
						if v == ZeroDivergence {
							cfg.Gamma = 1
						}
						var steps int
						if observed {
							cfg.Observer = &hook{at: 2, fn: func(StepStats) { steps++ }}
						}
						start := learner[float64]
						if prec == "f32" {
							start = learner[float32]
						}
						learnOnce, closeNet := start(t, f, cfg)
						defer closeNet()
						ctx := batchCtx(t) // every batch of the measurement shares one deadline
						learn := func() {
							if err := learnOnce(ctx); err != nil {
								t.Fatal(err)
							}
						}
						// The warm-up also fills the runtime's lists of finished goroutines,
						// which the sequential engine's learner (seqLearner) and the product
						// pool's helpers start anew at each update: a goroutine that ends on
						// another core than the one that starts the next leaves a new one to
						// allocate, until the lists of both cores hold enough (some tens).
						const warmUp, updates = 20, 200
						for range warmUp {
							learn()
						}
						total, own := allocationsOf(func() {
							for range updates {
								learn()
							}
						})
						t.Logf("%d allocations in %d updates", total, updates)
						require.Empty(t, own, "allocations of the update's own in %d updates", updates)
						require.LessOrEqual(t, total, uint64(maxRuntimeAllocations), "allocations in %d updates, all of them the runtime's own", updates)
						if observed {
							require.Equal(t, (warmUp+updates)*(h+1), steps, "node 2 reports every step of %d updates", warmUp+updates)
						}
					})
				}
			}
		}
	}
}

// maxRuntimeAllocations bounds the runtime's own allocations (runtimeAllocations) in the
// 200 counted updates: a new thread is about 8 allocations and the waiter records after
// a collection a few more. Up to now no more than 8 were seen; 25 keeps the bound well
// below one allocation per update.
const maxRuntimeAllocations = 25

// runtimeAllocations are the sites at which the runtime allocates for itself while the
// network's code calls into it, found by tracing an update's allocations:
//   - runtime.acquireSudog: the waiter record a goroutine takes to block on a channel,
//     allocated when its core's cache and the shared cache are empty; a garbage
//     collection empties the shared cache, and one core may release the records another
//     took, so a few are allocated now and then long after warm-up;
//   - runtime.newm: a new OS thread (its m, g0 and signal stack), when a woken goroutine
//     finds no idle thread;
//   - runtime.(*timers).addHeap: a core's timer heap growing;
//   - runtime.buildTypeAssertCache: the cache of an interface type assertion (gonum's
//     mat.untranspose), filled once per call site and type.
var runtimeAllocations = []string{"runtime.acquireSudog", "runtime.newm", "runtime.(*timers).addHeap", "runtime.buildTypeAssertCache"}

// allocationsOf runs f and returns the number of allocations during it, and one line per
// allocation site that was not the runtime's own (runtimeAllocations) and whose stack
// passes through this module's code outside tests: the sites of the code's own
// allocations. MemProfileRate must be 1.
func allocationsOf(f func()) (total uint64, own []string) {
	// A collection publishes the allocations recorded before it to the profile.
	runtime.GC()
	before := allocationSites()
	var start, end runtime.MemStats
	runtime.ReadMemStats(&start)
	f()
	runtime.ReadMemStats(&end)
	runtime.GC()
	for stack, n := range allocationSites() {
		if n -= before[stack]; n <= 0 {
			continue
		}
		if site, mine := ownSite(stack); mine {
			own = append(own, fmt.Sprintf("%d at %s", n, site))
		}
	}
	slices.Sort(own)
	return end.Mallocs - start.Mallocs, own
}

// allocationSites returns the allocation counts of the memory profile by stack.
func allocationSites() map[[32]uintptr]int64 {
	n, _ := runtime.MemProfile(nil, true)
	recs := make([]runtime.MemProfileRecord, n+64)
	n, _ = runtime.MemProfile(recs, true)
	out := make(map[[32]uintptr]int64, n)
	for _, r := range recs[:n] {
		out[r.Stack0] += r.AllocObjects
	}
	return out
}

// ownSite reports whether an allocation's stack passes through the module's code outside
// tests and through none of runtimeAllocations, and describes it by its innermost frames
// outside the runtime.
func ownSite(stack [32]uintptr) (site string, own bool) {
	var frames []string
	inModule := false
	it := runtime.CallersFrames(stack[:])
	for {
		fr, more := it.Next()
		if slices.Contains(runtimeAllocations, fr.Function) {
			return "", false
		}
		if strings.HasPrefix(fr.Function, "github.com/pcnet/pcnet/") && !strings.HasSuffix(fr.File, "_test.go") {
			inModule = true
		}
		if fr.Function != "" && !strings.HasPrefix(fr.Function, "runtime.") && len(frames) < 3 {
			frames = append(frames, fmt.Sprintf("%s (%s:%d)", fr.Function, fr.File[strings.LastIndex(fr.File, "/")+1:], fr.Line))
		}
		if !more {
			break
		}
	}
	return strings.Join(frames, " <- "), inModule
}
