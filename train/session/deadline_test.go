package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcnet/pcnet/train"
	"gonum.org/v1/gonum/mat"
)

// batchDeadline bounds every batch a test runs. A batch of the tests' networks takes
// milliseconds; a deadlocked one (a node waiting for a message nobody sends) then fails
// its test in seconds with the engine's error, instead of running into go test's timeout.
const batchDeadline = 10 * time.Second

// deadlocked names the first test that failed with a batch past its deadline. Once one
// batch deadlocked, every later one most likely does too, and 10 s each would add up
// past go test's -timeout; so batchCtx fails the later tests at once, pointing at the
// first.
var deadlocked atomic.Pointer[string]

// batchCtx returns the context for one batch of a test: cancelled after batchDeadline,
// and when the test ends. It is the pcnet package's helper of the same name.
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	if first := deadlocked.Load(); first != nil {
		t.Fatalf("not run: a batch of %s ran past its %v deadline (a deadlock); see that test's failure", *first, batchDeadline)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchDeadline)
	t.Cleanup(func() {
		if t.Failed() && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			name := t.Name()
			deadlocked.CompareAndSwap(nil, &name)
		}
		cancel()
	})
	return ctx
}

// deadlinePC is a PC learner whose every Step runs under a batchCtx of its test:
// train.Run steps a learner under context.WithoutCancel, so the context Session.Train is
// given cannot bound a batch. It embeds *train.PC, so it reports its updates
// (train.UpdateReporter) as the PC does. Steps run on the test's goroutine, as batchCtx
// needs.
type deadlinePC struct {
	*train.PC
	t testing.TB
}

func (d deadlinePC) Step(_ context.Context, x *mat.Dense, labels []int) (float64, error) {
	return d.PC.Step(batchCtx(d.t), x, labels)
}

// withDeadline returns l with a batch deadline on every step if it is a PC learner (BP
// runs no batches of goroutines, so it cannot deadlock).
func withDeadline(t testing.TB, l train.Learner) train.Learner {
	if pc, ok := l.(*train.PC); ok {
		return deadlinePC{pc, t}
	}
	return l
}
