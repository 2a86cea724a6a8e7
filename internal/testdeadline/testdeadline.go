// Package testdeadline gives the batches a test runs a deadline, so that a deadlock (a
// node waiting for a message nobody sends) fails its test in seconds with the engine's
// error, naming the waiting node, instead of running into go test's -timeout.
//
// Once one batch has run past its deadline, every later one most likely deadlocks too
// (the grids run hundreds of batches), and a deadline each would add up past -timeout;
// so every later call fails its test at once, pointing at the first. The state is the
// test binary's, that is one package's tests.
package testdeadline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Batch bounds one batch. A batch of the tests' networks takes milliseconds, and well
// under a second under the race detector on a loaded two-core machine.
const Batch = 10 * time.Second

// deadlocked names the first test that failed with a context past its deadline.
var deadlocked atomic.Pointer[string]

// BatchCtx returns the context for one batch of t: cancelled after Batch, and when t
// ends.
func BatchCtx(t testing.TB) context.Context {
	t.Helper()
	return Within(t, Batch)
}

// Within is BatchCtx for a call that runs many batches under one context: cancelled
// after d, which the caller sizes to the call with a margin.
func Within(t testing.TB, d time.Duration) context.Context {
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

// First names the first test whose context ran past its deadline, for callers without
// a testing.TB (an Example) that must not start after a deadlock either.
func First() (name string, ok bool) {
	if p := deadlocked.Load(); p != nil {
		return *p, true
	}
	return "", false
}
