package session

import (
	"context"
	"testing"

	"github.com/pcnet/pcnet/internal/testdeadline"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// batchCtx bounds one batch of a test (internal/testdeadline).
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.BatchCtx(t)
}

// deadlinePC is a PC learner whose every Step runs under a batchCtx of its test:
// train.Run steps a learner under context.WithoutCancel, so the context Session.Train is
// given cannot bound a batch. It embeds *train.PC, so it reports its updates
// (train.UpdateReporter) as the PC does. Steps run on the test's goroutine, as batchCtx
// needs.
type deadlinePC struct {
	*train.PC[float64]
	t testing.TB
}

func (d deadlinePC) Step(_ context.Context, x *tensor.Matrix[float64], labels []int) (float64, error) {
	return d.PC.Step(batchCtx(d.t), x, labels)
}

// withDeadline returns l with a batch deadline on every step if it is a PC learner (BP
// runs no batches of goroutines, so it cannot deadlock).
func withDeadline(t testing.TB, l train.Learner[float64]) train.Learner[float64] {
	if pc, ok := l.(*train.PC[float64]); ok {
		return deadlinePC{pc, t}
	}
	return l
}
