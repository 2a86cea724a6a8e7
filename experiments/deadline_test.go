package experiments

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// batchDeadline bounds every batch a test runs. A batch of the tests' networks takes
// milliseconds, and well under a second under the race detector on a loaded machine; a
// deadlocked one (a node waiting for a message nobody sends) then fails its test in
// seconds with the engine's error, instead of running into go test's timeout.
const batchDeadline = 10 * time.Second

// runDeadline bounds one run of the tiny preset. Run takes one context for all the
// batches of a run, so the deadline covers the whole call: the tiny runs take about 2 s on
// a loaded two-core machine, and a deadlocked one fails in 20 s.
const runDeadline = 20 * time.Second

// quickDeadline bounds TestQuickPreset's one run of the quick preset, about 35 s on a
// loaded two-core machine.
const quickDeadline = 90 * time.Second

// deadlocked names the first test that failed with a batch past its deadline. Once one
// batch deadlocked, every later one most likely does too (the grids run hundreds), and
// a deadline each would add up past go test's -timeout; so the contexts fail the later
// tests at once, pointing at the first.
var deadlocked atomic.Pointer[string]

// batchCtx returns the context for one batch of a test: cancelled after batchDeadline,
// and when the test ends.
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return callCtx(t, batchDeadline)
}

// callCtx is batchCtx for a call that runs many batches under one context (Run and the
// experiments' runs): cancelled after d, sized to the call with a margin.
func callCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	if first := deadlocked.Load(); first != nil {
		t.Fatalf("not run: a batch of %s ran past its deadline (a deadlock); see that test's failure", *first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(func() {
		if t.Failed() && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			name := t.Name()
			deadlocked.CompareAndSwap(nil, &name)
		}
		cancel()
	})
	return ctx
}
