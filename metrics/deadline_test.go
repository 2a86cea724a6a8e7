package metrics

import (
	"context"
	"testing"
	"time"
)

// batchDeadline bounds every batch a test runs. A batch of the tests' networks takes
// milliseconds, and well under a second under the race detector on a loaded machine; a
// deadlocked one (a node waiting for a message nobody sends) then fails its test in
// seconds with the engine's error, instead of running into go test's timeout.
const batchDeadline = 10 * time.Second

// batchCtx returns the context for one batch of a test: cancelled after batchDeadline,
// and when the test ends.
func batchCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), batchDeadline)
	t.Cleanup(cancel)
	return ctx
}
