package train

import (
	"context"
	"testing"

	"github.com/pcnet/pcnet/internal/testdeadline"
	"github.com/pcnet/pcnet/tensor"
)

// batchCtx bounds one batch of a test (internal/testdeadline).
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.BatchCtx(t)
}

// deadlinePC is a PC learner whose every Step runs under a batchCtx of its test. Run
// steps a learner under context.WithoutCancel (a step is not cancelled from outside,
// see the package docs), so the context Run is given cannot bound a batch. It embeds
// *PC, so it reports its updates (UpdateReporter) as the PC does. Steps run on the
// test's goroutine, as batchCtx needs.
type deadlinePC struct {
	*PC[float64]
	t testing.TB
}

func (d deadlinePC) Step(_ context.Context, x *tensor.Matrix[float64], labels []int) (float64, error) {
	return d.PC.Step(batchCtx(d.t), x, labels)
}
