package experiments

import (
	"context"
	"testing"
	"time"

	"github.com/pcnet/pcnet/internal/testdeadline"
)

// runDeadline bounds one run of the tiny preset. Run takes one context for all the
// batches of a run, so the deadline covers the whole call: the tiny runs take about 2 s on
// a loaded two-core machine, and a deadlocked one fails in 20 s.
const runDeadline = 20 * time.Second

// quickDeadline bounds TestQuickPreset's one run of the quick preset, about 60 s on a
// loaded two-core machine (the depth experiment's part 25-40 s of it), up to two minutes
// when other work holds both cores.
const quickDeadline = 180 * time.Second

// batchCtx bounds one batch of a test (internal/testdeadline).
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.BatchCtx(t)
}

// callCtx bounds a call that runs many batches under one context (Run and the
// experiments' runs): cancelled after d, sized to the call with a margin.
func callCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	return testdeadline.Within(t, d)
}
