package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Actor is one long-lived goroutine body. Run must return when ctx is cancelled.
type Actor struct {
	Name string
	Run  func(ctx context.Context) error
}

// ErrStopped is matched (errors.Is) by the cause (see [context.Cause]) of a
// group context cancelled by [Group.Stop]. Actors may test for it to tell an
// orderly stop from a failure elsewhere.
var ErrStopped = errors.New("actor: group stopped")

// errAllReturned is the cause of the group context once every actor has
// returned: the context is cancelled then to release it from its parent.
var errAllReturned = errors.New("actor: all actors returned")

// errGoexit is what an actor that called runtime.Goexit (for example
// t.FailNow from inside Run) reports: it neither returned nor panicked.
var errGoexit = errors.New("runtime.Goexit called in Run")

// errNilRun is reported by an actor started without a Run function.
var errNilRun = errors.New("Run is nil")

// Error is an error returned by an actor, wrapped to name the actor.
type Error struct {
	Actor string
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("actor %q: %v", e.Actor, e.Err) }

// Unwrap returns the actor's own error, so errors.Is and errors.As see through
// the wrapping.
func (e *Error) Unwrap() error { return e.Err }

// PanicError is a panic recovered inside an actor's Run.
type PanicError struct {
	Actor string
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack, as debug.Stack formats it
}

// Error is one line; the stack is in the Stack field.
func (e *PanicError) Error() string { return fmt.Sprintf("actor %q: panic: %v", e.Actor, e.Value) }

// Unwrap returns the panic value when it is an error (for example a runtime
// error), and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Group runs actors under one context: the first error (or panic) cancels all others.
type Group struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	// stopCause is this group's own ErrStopped: compared by identity, it
	// tells this group's Stop from a parent that is itself a stopped group.
	stopCause error

	running atomic.Int64  // actors that have not returned yet
	done    chan struct{} // closed by the last actor to return

	mu    sync.Mutex
	first error // first error of an actor's own; guarded by mu
	// result is what Wait returns. It is written once, before done is
	// closed, and only read after done is closed.
	result error
}

// Start starts every actor in its own goroutine under a child of ctx and
// returns at once. Actors are started even if ctx is already cancelled; they
// see a cancelled context and are expected to return at once.
func Start(ctx context.Context, actors ...Actor) *Group {
	gctx, cancel := context.WithCancelCause(ctx)
	g := &Group{
		parent:    ctx,
		ctx:       gctx,
		cancel:    cancel,
		stopCause: fmt.Errorf("%w", ErrStopped),
		done:      make(chan struct{}),
	}
	if len(actors) == 0 {
		g.finish()
		return g
	}
	g.running.Store(int64(len(actors)))
	for _, a := range actors {
		go g.run(a)
	}
	return g
}

// run is one actor's goroutine.
func (g *Group) run(a Actor) {
	defer g.exit()
	if a.Run == nil {
		g.record(a.Name, errNilRun)
		return
	}
	returned := false
	defer func() {
		if !returned {
			g.abnormal(a.Name, recover())
		}
	}()
	err := a.Run(g.ctx)
	returned = true
	g.record(a.Name, err)
}

// abnormal records an actor that left Run without returning: v is the
// recovered panic value, nil for runtime.Goexit (since Go 1.21 panic(nil)
// recovers as a *runtime.PanicNilError, so nil means Goexit).
func (g *Group) abnormal(name string, v any) {
	if v == nil {
		g.fail(&Error{Actor: name, Err: errGoexit})
		return
	}
	g.fail(&PanicError{Actor: name, Value: v, Stack: debug.Stack()})
}

// record files the error an actor returned, dropping nil and the echoes of a
// cancellation that already happened.
func (g *Group) record(name string, err error) {
	if err == nil || g.isEcho(err) {
		return
	}
	g.fail(&Error{Actor: name, Err: err})
}

// isEcho reports whether err is only the consequence of the group context
// having been cancelled.
func (g *Group) isEcho(err error) bool {
	if g.ctx.Err() == nil {
		return false
	}
	return errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Cause(g.ctx))
}

// fail keeps the first error and cancels the group with it as the cause.
func (g *Group) fail(err error) {
	g.mu.Lock()
	if g.first == nil {
		g.first = err
	}
	g.mu.Unlock()
	g.cancel(err)
}

// exit is the last thing an actor's goroutine does; the last one out
// finishes the group.
func (g *Group) exit() {
	if g.running.Add(-1) == 0 {
		g.finish()
	}
}

// finish fixes Wait's result at the moment the last actor returned, releases
// the group context and closes done.
func (g *Group) finish() {
	g.mu.Lock()
	switch {
	case g.first != nil:
		g.result = g.first
	case g.ctx.Err() == nil, context.Cause(g.ctx) == g.stopCause:
		g.result = nil
	default:
		// Cancelled, by neither an actor nor Stop: the parent.
		g.result = g.parent.Err()
	}
	g.mu.Unlock()
	g.cancel(errAllReturned)
	close(g.done)
}

// Stop cancels the group's context. Idempotent, safe from any goroutine, does not wait.
func (g *Group) Stop() { g.cancel(g.stopCause) }

// Wait blocks until every actor has returned and returns the first error (nil
// if all returned nil). Idempotent: later calls return the same error. An
// actor that returns context.Canceled because the group was stopped is not an
// error of its own: if the only errors are ctx errors caused by Stop(), Wait
// returns nil; if the parent ctx was cancelled, Wait returns the parent's
// ctx.Err().
func (g *Group) Wait() error {
	<-g.done
	return g.result
}

// Done is closed once every actor has returned.
func (g *Group) Done() <-chan struct{} { return g.done }

// Err returns the first error without blocking: while actors are still
// running, the first error of an actor's own recorded so far (nil if none);
// once Done is closed, the same error as Wait.
func (g *Group) Err() error {
	select {
	case <-g.done:
		return g.result
	default:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.first
}

// Context is the group's context (cancelled on Stop, first error or parent
// cancellation, and once every actor has returned); actors' helpers may use
// it. Its cause (see [context.Cause]) matches [ErrStopped] after Stop and is
// the first error after a failure.
func (g *Group) Context() context.Context { return g.ctx }
