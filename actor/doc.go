// Package actor is the generic runtime under pcnet's layer actors: it starts a
// set of long-lived goroutines (actors) under one context, cancels all of them
// on the first error, turns panics into errors, and waits until every one of
// them has returned.
//
// # Ownership
//
// It follows the rule that golang.org/x/sync/errgroup is built on: whoever
// starts a goroutine stops it. [Start] starts one goroutine per [Actor] and
// hands back the [Group] that owns them; the caller must eventually call
// [Group.Wait] (or wait on [Group.Done]), after [Group.Stop] or parent
// cancellation if the actors would otherwise run forever. No goroutine
// outlives Wait: the package starts none besides the actors themselves.
//
// # Errors
//
// The first actor that returns a non-nil error, or panics, cancels the
// group's context; the others are expected to notice ctx.Done() and return.
// Errors that are only the consequence of that cancellation (an error
// matching [context.Canceled], [context.DeadlineExceeded] or the group
// context's cause, returned after the group context was cancelled) are not
// errors of their own and are dropped, so [Group.Wait] reports the cause,
// not the echo:
//
//   - the first real error, wrapped as an [*Error] or a [*PanicError] that
//     names the actor;
//   - otherwise nil if the group was stopped with [Group.Stop] or every actor
//     returned by itself;
//   - otherwise the parent context's Err() if the parent was cancelled.
//
// Unlike errgroup, which lets a panic crash the program, a panic in an actor
// is recovered and reported as a [*PanicError] that carries the stack: a
// layer that panics should stop the network it belongs to, not the process
// that hosts it (a test, a server exposing metrics).
package actor
