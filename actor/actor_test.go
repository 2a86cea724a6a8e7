package actor_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pcnet/pcnet/actor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

// untilDone blocks until ctx is cancelled and returns what ret makes of it.
func untilDone(ret func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		return ret(ctx)
	}
}

func ctxErr(ctx context.Context) error { return ctx.Err() }

// blockers returns n actors that wait for cancellation and return ctx.Err().
func blockers(n int) []actor.Actor {
	as := make([]actor.Actor, n)
	for i := range as {
		as[i] = actor.Actor{Name: fmt.Sprintf("blocker %d", i), Run: untilDone(ctxErr)}
	}
	return as
}

func requireDone(t *testing.T, g *actor.Group) {
	t.Helper()
	select {
	case <-g.Done():
	default:
		t.Fatal("Done is not closed after Wait returned")
	}
}

func TestZeroActors(t *testing.T) {
	g := actor.Start(context.Background())
	require.NoError(t, g.Wait())
	requireDone(t, g)
	require.NoError(t, g.Err())
	require.Error(t, g.Context().Err(), "the group context is released once all actors returned")
}

func TestAllReturnNil(t *testing.T) {
	var ran sync.WaitGroup
	ran.Add(3)
	as := make([]actor.Actor, 3)
	for i := range as {
		as[i] = actor.Actor{Name: fmt.Sprint(i), Run: func(context.Context) error { ran.Done(); return nil }}
	}
	g := actor.Start(context.Background(), as...)
	require.NoError(t, g.Wait())
	ran.Wait()
	require.NoError(t, g.Err())
}

func TestFirstErrorCancelsRest(t *testing.T) {
	tests := []struct {
		name     string
		blockers int
		// ret is what the blockers return once cancelled: echoes of the
		// cancellation, all of which must be dropped.
		ret func(ctx context.Context) error
	}{
		{"one other returns ctx.Err", 1, ctxErr},
		{"many others return ctx.Err", 8, ctxErr},
		{"others wrap ctx.Err", 4, func(ctx context.Context) error { return fmt.Errorf("recv: %w", ctx.Err()) }},
		{"others return the cause", 4, context.Cause},
		{"others return nil", 4, func(context.Context) error { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := make([]actor.Actor, 0, tc.blockers+1)
			var cancelled sync.WaitGroup
			cancelled.Add(tc.blockers)
			for i := range tc.blockers {
				as = append(as, actor.Actor{Name: fmt.Sprintf("layer %d", i), Run: func(ctx context.Context) error {
					<-ctx.Done()
					cancelled.Done()
					return tc.ret(ctx)
				}})
			}
			as = append(as, actor.Actor{Name: "layer 3", Run: func(context.Context) error { return errBoom }})

			g := actor.Start(context.Background(), as...)
			err := g.Wait()
			cancelled.Wait()

			require.ErrorIs(t, err, errBoom)
			require.EqualError(t, err, `actor "layer 3": boom`)
			var ae *actor.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, "layer 3", ae.Actor)
			require.Same(t, err, g.Err())
			require.Same(t, err, context.Cause(g.Context()))
		})
	}
}

func TestPanicBecomesError(t *testing.T) {
	var nilMap map[string]int
	tests := []struct {
		name      string
		run       func()
		wantMsg   string
		wantValue func(t *testing.T, v any)
	}{
		{
			name:    "string",
			run:     func() { panic("kaboom") },
			wantMsg: `actor "layer 3": panic: kaboom`,
			wantValue: func(t *testing.T, v any) {
				require.Equal(t, "kaboom", v)
			},
		},
		{
			name:    "error value",
			run:     func() { panic(errBoom) },
			wantMsg: `actor "layer 3": panic: boom`,
			wantValue: func(t *testing.T, v any) {
				require.Equal(t, errBoom, v)
			},
		},
		{
			name:    "runtime error",
			run:     func() { nilMap["x"] = 1 },
			wantMsg: `actor "layer 3": panic: assignment to entry in nil map`,
			wantValue: func(t *testing.T, v any) {
				var re runtime.Error
				require.ErrorAs(t, v.(error), &re)
			},
		},
		{
			name:    "nil",
			run:     func() { panic(nil) },
			wantMsg: `actor "layer 3": panic: panic called with nil argument`,
			wantValue: func(t *testing.T, v any) {
				var pn *runtime.PanicNilError
				require.ErrorAs(t, v.(error), &pn)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := append(blockers(3), actor.Actor{Name: "layer 3", Run: func(context.Context) error {
				tc.run()
				return nil
			}})
			g := actor.Start(context.Background(), as...)
			err := g.Wait()

			var pe *actor.PanicError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "layer 3", pe.Actor)
			require.Equal(t, tc.wantMsg, err.Error())
			require.NotContains(t, err.Error(), "\n", "Error() is one line")
			tc.wantValue(t, pe.Value)
			require.Contains(t, string(pe.Stack), "actor_test.go", "the stack reaches the panic site")
			if e, ok := pe.Value.(error); ok {
				require.ErrorIs(t, err, e)
			}
		})
	}
}

func TestGoexitBecomesError(t *testing.T) {
	g := actor.Start(context.Background(), append(blockers(2), actor.Actor{Name: "quitter", Run: func(context.Context) error {
		runtime.Goexit()
		return nil
	}})...)
	err := g.Wait()
	require.EqualError(t, err, `actor "quitter": runtime.Goexit called in Run`)
}

func TestNilRunIsAnError(t *testing.T) {
	g := actor.Start(context.Background(), append(blockers(2), actor.Actor{Name: "empty"})...)
	require.EqualError(t, g.Wait(), `actor "empty": Run is nil`)
}

func TestStopIsNotAnError(t *testing.T) {
	tests := []struct {
		name string
		ret  func(ctx context.Context) error
	}{
		{"ctx.Err", ctxErr},
		{"wrapped ctx.Err", func(ctx context.Context) error { return fmt.Errorf("layer: %w", ctx.Err()) }},
		{"cause", context.Cause},
		{"nil", func(context.Context) error { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as := make([]actor.Actor, 4)
			for i := range as {
				as[i] = actor.Actor{Name: fmt.Sprint(i), Run: untilDone(tc.ret)}
			}
			g := actor.Start(context.Background(), as...)
			require.NoError(t, g.Err())
			g.Stop()
			require.NoError(t, g.Wait())
			require.NoError(t, g.Err())
			require.ErrorIs(t, context.Cause(g.Context()), actor.ErrStopped)
		})
	}
}

func TestRealErrorAfterStopIsReported(t *testing.T) {
	errFlush := errors.New("flush failed")
	g := actor.Start(context.Background(), append(blockers(2), actor.Actor{
		Name: "writer",
		Run:  untilDone(func(context.Context) error { return errFlush }),
	})...)
	g.Stop()
	err := g.Wait()
	require.ErrorIs(t, err, errFlush)
	require.EqualError(t, err, `actor "writer": flush failed`)
}

func TestOwnCanceledIsAnError(t *testing.T) {
	// An actor whose own context (not the group's) was cancelled reports a
	// real failure, even though it matches context.Canceled.
	g := actor.Start(context.Background(), append(blockers(2), actor.Actor{
		Name: "impatient",
		Run: func(ctx context.Context) error {
			inner, cancel := context.WithCancel(ctx)
			cancel()
			return inner.Err()
		},
	})...)
	err := g.Wait()
	require.ErrorIs(t, err, context.Canceled)
	require.EqualError(t, err, `actor "impatient": context canceled`)
}

func TestErrWhileRunning(t *testing.T) {
	release := make(chan struct{})
	g := actor.Start(context.Background(),
		actor.Actor{Name: "failer", Run: func(context.Context) error { return errBoom }},
		actor.Actor{Name: "slow", Run: func(ctx context.Context) error {
			<-ctx.Done()
			<-release
			return ctx.Err()
		}},
	)
	<-g.Context().Done()
	select {
	case <-g.Done():
		t.Fatal("Done closed while an actor is still running")
	default:
	}
	require.ErrorIs(t, g.Err(), errBoom, "Err reports the first error before every actor returned")
	close(release)
	require.ErrorIs(t, g.Wait(), errBoom)
}

func TestParentCancellation(t *testing.T) {
	tests := []struct {
		name string
		// start builds the parent, starts the group and cancels what it
		// needs to; it returns the error Wait must return.
		start func(t *testing.T) (*actor.Group, error)
	}{
		{"parent cancelled", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithCancel(context.Background())
			g := actor.Start(parent, blockers(3)...)
			cancel()
			return g, context.Canceled
		}},
		{"parent deadline passed", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
			t.Cleanup(cancel)
			return actor.Start(parent, blockers(3)...), context.DeadlineExceeded
		}},
		{"parent cancelled before start", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithCancel(context.Background())
			cancel()
			return actor.Start(parent, blockers(3)...), context.Canceled
		}},
		{"parent cancelled before start, zero actors", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithCancel(context.Background())
			cancel()
			return actor.Start(parent), context.Canceled
		}},
		{"parent cancelled with a cause, then Stop", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithCancelCause(context.Background())
			g := actor.Start(parent, blockers(3)...)
			cancel(errBoom)
			g.Stop()
			return g, context.Canceled
		}},
		{"Stop, then parent cancelled", func(t *testing.T) (*actor.Group, error) {
			parent, cancel := context.WithCancel(context.Background())
			g := actor.Start(parent, blockers(3)...)
			g.Stop()
			<-g.Context().Done()
			cancel()
			return g, nil
		}},
		{"parent is a stopped group", func(t *testing.T) (*actor.Group, error) {
			outer := actor.Start(context.Background(), blockers(1)...)
			g := actor.Start(outer.Context(), blockers(3)...)
			outer.Stop()
			require.NoError(t, outer.Wait())
			return g, context.Canceled
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, want := tc.start(t)
			err := g.Wait()
			if want == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, want, err, "Wait returns the parent's ctx.Err() itself, unwrapped")
			require.Equal(t, want, g.Err())
		})
	}
}

func TestStopWaitConcurrentIdempotent(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			as := blockers(4)
			if fail {
				as = append(as, actor.Actor{Name: "failer", Run: untilDone(func(context.Context) error { return errBoom })})
			}
			g := actor.Start(context.Background(), as...)
			const callers = 16
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g.Stop()
					_ = g.Err()
					errs[i] = g.Wait()
					g.Stop()
					<-g.Done()
				}()
			}
			wg.Wait()
			first := g.Wait()
			if fail {
				require.ErrorIs(t, first, errBoom)
			} else {
				require.NoError(t, first)
			}
			for i, err := range errs {
				require.Equal(t, first, err, "caller %d", i)
			}
			g.Stop()
			require.Equal(t, first, g.Wait())
			require.Equal(t, first, g.Err())
		})
	}
}

func TestContextIsWhatActorsSee(t *testing.T) {
	seen := make(chan context.Context, 1)
	g := actor.Start(context.Background(), actor.Actor{Name: "a", Run: func(ctx context.Context) error {
		seen <- ctx
		<-ctx.Done()
		return ctx.Err()
	}})
	require.Equal(t, g.Context(), <-seen)
	require.NoError(t, g.Context().Err())
	g.Stop()
	require.NoError(t, g.Wait())
}

func TestManyActors(t *testing.T) {
	const n = 200
	var count sync.WaitGroup
	count.Add(n)
	as := make([]actor.Actor, n)
	for i := range as {
		as[i] = actor.Actor{Name: fmt.Sprintf("layer %d", i), Run: func(ctx context.Context) error {
			count.Done()
			<-ctx.Done()
			if i == n-1 {
				return errors.New("late")
			}
			return ctx.Err()
		}}
	}
	g := actor.Start(context.Background(), as...)
	count.Wait()
	g.Stop()
	err := g.Wait()
	require.EqualError(t, err, fmt.Sprintf(`actor "layer %d": late`, n-1))
	require.False(t, strings.Contains(err.Error(), "canceled"))
}
