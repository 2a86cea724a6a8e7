package metrics

import (
	"context"
	"testing"

	"github.com/pcnet/pcnet/internal/testdeadline"
)

// batchCtx bounds one batch of a test (internal/testdeadline).
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.BatchCtx(t)
}
