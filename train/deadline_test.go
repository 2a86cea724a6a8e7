package train

import (
	"context"
	"time"

	"gonum.org/v1/gonum/mat"
)

// batchDeadline bounds every batch a PC learner runs in these tests. Run steps a learner
// under context.WithoutCancel (a step is not cancelled from outside, see the package
// docs), so a deadlocked batch would otherwise hang its test until go test's timeout; a
// batch of the tests' networks takes milliseconds.
const batchDeadline = 10 * time.Second

// deadlinePC is a PC learner whose every Step runs under batchDeadline. It embeds *PC,
// so it reports its updates (UpdateReporter) as the PC does.
type deadlinePC struct{ *PC }

func (d deadlinePC) Step(ctx context.Context, x *mat.Dense, labels []int) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, batchDeadline)
	defer cancel()
	return d.PC.Step(ctx, x, labels)
}
