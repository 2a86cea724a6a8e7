package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/pcnet/pcnet/internal/testdeadline"
)

// commandDeadline bounds every whole command a test runs, in process through run or as
// the built binary: the tests' commands take a few seconds on a loaded machine (many
// batches, worker processes, the data to load); a deadlocked one fails its test with its
// output (a child is sent SIGQUIT first, so that its output ends with every goroutine's
// stack, the waiting node's among them) instead of running into go test's timeout.
const commandDeadline = 30 * time.Second

// commandCtx returns the context for one command of a test (a run call or a process):
// cancelled after commandDeadline, and when the test ends; after one test's deadlock,
// every later test fails at once, pointing at it (internal/testdeadline).
func commandCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.Within(t, commandDeadline)
}

// runWithin runs the command in process, as main does, within commandDeadline. The
// command's own ctx cannot bound it: a learner step is not cancelled from the outside
// (an interrupt stops after the batch; see package train), so a deadlocked batch never
// returns. Past the deadline the test fails with every goroutine's stack, the node
// actor that waits among them.
func runWithin(t *testing.T, ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t.Helper()
	code, stacks := runDeadline(commandCtx(t), ctx, args, stdout, stderr)
	if stacks != "" {
		t.Fatalf("pcnet %v ran past its %v deadline (a deadlock?); goroutines:\n%s", args, commandDeadline, stacks)
	}
	return code
}

// runDeadline runs the command with ctx until it returns or deadline ends; then it
// returns every goroutine's stack, and leaves the command's goroutine behind (nothing
// can stop a deadlocked batch; the failed test ends the package's run soon after).
// stdout and stderr are the caller's to read only once the command returned.
func runDeadline(deadline, ctx context.Context, args []string, stdout, stderr io.Writer) (code int, stacks string) {
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	select {
	case code := <-done:
		return code, ""
	case <-deadline.Done():
		buf := make([]byte, 1<<20)
		return 0, string(buf[:runtime.Stack(buf, true)])
	}
}

// exampleRun is runWithin for an example, which has no testing.T: past the deadline, or
// after a test's deadlock, it prints why instead of the output the example wants.
func exampleRun(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if first, ok := testdeadline.First(); ok {
		fmt.Printf("not run: a command of %s ran past its deadline (a deadlock)\n", first)
		return 0, false
	}
	deadline, cancel := context.WithTimeout(context.Background(), commandDeadline)
	defer cancel()
	code, stacks := runDeadline(deadline, context.Background(), args, stdout, stderr)
	if stacks != "" {
		fmt.Printf("pcnet %v ran past its %v deadline (a deadlock?); goroutines:\n%s", args, commandDeadline, stacks)
		return 0, false
	}
	return code, true
}
