package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/internal/testdeadline"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock whose ticks the test sends, each carrying the time it says. Its
// Now stays at start: a heartbeat or command is heard at start whenever it arrives, so
// that how long a peer has been silent at a tick is exactly the tick's time less start.
type fakeClock struct {
	start time.Time
	tick  chan time.Time // unbuffered: a send returns once the deadline's loop took it

	mu      sync.Mutex
	periods []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), tick: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time { return c.start }

func (c *fakeClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	c.periods = append(c.periods, d)
	c.mu.Unlock()
	return c.tick, func() {}
}

func (c *fakeClock) lastPeriod() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.periods[len(c.periods)-1]
}

// requireDeadline ticks clk at start + timeout (twice, each taken, so the first did not
// end the loop) and then at 1 ms past it, after which the loop must have ended: ended
// receives its error. The ticks before the deadline come at every tenth of it; the loop
// must have asked for a tick every period.
func requireDeadline(t *testing.T, clk *fakeClock, timeout, period time.Duration, ended <-chan error) error {
	t.Helper()
	ctx := batchCtx(t)
	tickAt := func(d time.Duration) error {
		select {
		case clk.tick <- clk.start.Add(d):
			return nil
		case err := <-ended:
			t.Fatalf("ended before the tick at +%v: %v", d, err)
		case <-ctx.Done():
			t.Fatalf("no tick taken at +%v: %v", d, ctx.Err())
		}
		return nil
	}
	for d := timeout / 10; d <= timeout; d += timeout / 10 {
		require.NoError(t, tickAt(d))
	}
	require.NoError(t, tickAt(timeout), "a silence of exactly the timeout is not beyond it")
	require.Equal(t, period, clk.lastPeriod(), "checked every tenth of the timeout")
	require.NoError(t, tickAt(timeout+time.Millisecond))
	select {
	case err := <-ended:
		return err
	case clk.tick <- clk.start.Add(timeout + time.Millisecond):
		t.Fatalf("still waiting after a tick 1 ms past the %v timeout", timeout)
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	return nil
}

// fakeWorkers starts a coordinator of run on opts (Conn, Run and Workers set here) whose
// workers are the test: they say hello until it has them, and nothing after (no
// heartbeat, no reply) unless the test sends it with out, on the reports' subjects.
func fakeWorkers(t *testing.T, run string, ranges []Range, opts Options, f *fixture) (*Coordinator[float64], *sender) {
	t.Helper()
	c := startCluster(t, "unused", nil, time.Minute) // the server alone
	nc, wc := dial(t, c.srv, "coordinator"), dial(t, c.srv, "fake workers")
	t.Cleanup(nc.Close)
	t.Cleanup(wc.Close)
	out := newSender(wc, run, testKey)
	hellos, stopHellos := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(hellos)
		for {
			for _, r := range ranges {
				_ = out.send(reportSubject(run, r.Lo), r.Lo, &message{Kind: kindHello, Lo: r.Lo, Hi: r.Hi})
			}
			select {
			case <-stopHellos:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	opts.Conn, opts.Run, opts.Workers, opts.JoinTimeout, opts.Key = nc, run, ranges, 20*time.Second, testKey
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: 3, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	co, err := NewCoordinator(batchCtx(t), opts, layer.CloneAll[float64](f.layers), cfg)
	close(stopHellos)
	<-hellos
	require.NoError(t, err)
	t.Cleanup(func() { _ = co.Close() })
	return co, out
}

// TestCoordinatorRefusesStaleReplies: a reply to an earlier command, a reply of another
// kind, or one sent twice, stops the coordinator with an error naming the worker, what
// it sent and what was due; a hello after joining is ignored.
func TestCoordinatorRefusesStaleReplies(t *testing.T) {
	f := newFixture(2, 29)
	ranges := []Range{{0, 1}, {2, 3}}
	for _, tc := range []struct {
		name    string
		replies []*message // from the worker of nodes 2-3, to the setup (command 1)
		want    string
	}{
		{"stale", []*message{{Kind: kindReady, Seq: 0}}, "the worker of nodes 2-3 (pid 0 on ) sent ready 0 where ready 1 was due"},
		{"ahead", []*message{{Kind: kindReady, Seq: 2}}, "the worker of nodes 2-3 (pid 0 on ) sent ready 2 where ready 1 was due"},
		{"other kind", []*message{{Kind: kindReport, Seq: 1}}, "the worker of nodes 2-3 (pid 0 on ) sent report 1 where ready 1 was due"},
		{"twice", []*message{{Kind: kindHello, Lo: 2, Hi: 3}, {Kind: kindReady, Seq: 1}, {Kind: kindReady, Seq: 1}}, "the worker of nodes 2-3 (pid 0 on ) sent ready 1 twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co, out := fakeWorkers(t, "stale", ranges, Options{Timeout: time.Minute}, f)
			for _, m := range tc.replies {
				require.NoError(t, out.send(reportSubject("stale", 2), 2, m))
			}
			_, err := co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
			require.ErrorContains(t, err, "cluster: run stale: "+tc.want)
		})
	}
}

// TestCoordinatorHeartbeatDeadline: a worker silent since it joined stops the
// coordinator's batch at the first check 1 ms past -timeout, not at exactly -timeout,
// and not later; the error says how long it was silent.
func TestCoordinatorHeartbeatDeadline(t *testing.T) {
	const timeout = 10 * time.Second // on the fake clock
	f := newFixture(2, 19)
	ranges := []Range{{0, 1}, {2, 3}}
	clk := newFakeClock()
	co, _ := fakeWorkers(t, "deadline", ranges, Options{Timeout: timeout, clock: clk}, f)
	ended := make(chan error, 1)
	stepCtx := batchCtx(t) // here, not in the goroutine: batchCtx may fail the test
	go func() {
		_, err := co.Step(stepCtx, f.batches[0].x, f.batches[0].labels)
		ended <- err
	}()
	err := requireDeadline(t, clk, timeout, timeout/10, ended)
	require.ErrorContains(t, err, "the worker of nodes 0-1 (pid 0 on ) sent no heartbeat for 10.001s (timeout 10s) while its ready 1 was due: it is gone; stopping")
}

// TestWorkerCoordinatorDeadline: a worker whose coordinator falls silent after a batch
// exits at the first check 1 ms past its -timeout, not at exactly -timeout, and not
// later; one that no coordinator sets up exits 1 ms past -join-timeout likewise.
func TestWorkerCoordinatorDeadline(t *testing.T) {
	const timeout, join = 10 * time.Second, 20 * time.Second // on the fake clock
	f := newFixture(2, 23)
	c := startCluster(t, "unused", nil, time.Minute) // the server alone
	for _, setUp := range []bool{true, false} {
		name := map[bool]string{true: "silent coordinator", false: "no coordinator"}[setUp]
		t.Run(name, func(t *testing.T) {
			wc := dial(t, c.srv, "worker")
			defer wc.Close()
			clk := newFakeClock()
			ended := make(chan error, 1)
			r := Range{0, 3}
			serveCtx := batchCtx(t) // here, not in the goroutine: batchCtx may fail the test
			go func() {
				ended <- Serve(serveCtx, WorkerOptions{Conn: wc, Key: testKey, Run: "wdeadline", Nodes: r, Timeout: timeout, JoinTimeout: join, clock: clk})
			}()
			if !setUp {
				err := requireDeadline(t, clk, join, timeout/10, ended)
				require.EqualError(t, err, "cluster: worker of nodes 0-3, run wdeadline: no setup from a coordinator within 20s")
				return
			}
			// A coordinator on the wall clock whose heartbeats come an hour apart: after
			// one batch the worker hears nothing more of it.
			nc := dial(t, c.srv, "coordinator")
			defer nc.Close()
			cfg := pcnet.Config{Variant: pcnet.Standard, Steps: 3, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
			co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: "wdeadline", Workers: []Range{r}, Timeout: time.Hour, JoinTimeout: 20 * time.Second}, layer.CloneAll[float64](f.layers), cfg)
			require.NoError(t, err)
			_, err = co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
			require.NoError(t, err)
			err = requireDeadline(t, clk, timeout, timeout/10, ended)
			require.EqualError(t, err, "cluster: worker of nodes 0-3, run wdeadline: no word from the coordinator for 10.001s (timeout 10s); it is gone, exiting")
			require.NoError(t, co.Close())
		})
	}
}

// TestCoordinatorBatchDeadline: a batch whose reports do not come stops the coordinator
// at the first check past its batch timeout, however recent the workers' heartbeats
// (here within the heartbeat timeout throughout), and not at exactly the batch timeout.
func TestCoordinatorBatchDeadline(t *testing.T) {
	const timeout, batchTimeout = 10 * time.Second, 5 * time.Second // on the fake clock
	f := newFixture(2, 31)
	ranges := []Range{{0, 1}, {2, 3}}
	clk := newFakeClock()
	co, out := fakeWorkers(t, "batchdl", ranges, Options{Timeout: timeout, BatchTimeout: batchTimeout, clock: clk}, f)
	for _, r := range ranges {
		require.NoError(t, out.send(reportSubject("batchdl", r.Lo), r.Lo, &message{Kind: kindReady, Seq: 1}))
	}
	// The ticks go to the batch's wait, once the setup's is over: the batch is sent.
	cmds := make(chan *nats.Msg, 8)
	sub, err := co.o.Conn.ChanSubscribe(cmdSubject("batchdl", 2), cmds)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, co.o.Conn.Flush())
	ended := make(chan error, 1)
	stepCtx := batchCtx(t) // here, not in the goroutine: batchCtx may fail the test
	go func() {
		_, err := co.Step(stepCtx, f.batches[0].x, f.batches[0].labels)
		ended <- err
	}()
	ctx := batchCtx(t)
	for range 2 { // the setup, then the batch
		select {
		case <-cmds:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	for _, d := range []time.Duration{batchTimeout, batchTimeout} {
		select {
		case clk.tick <- clk.start.Add(d):
		case err := <-ended:
			t.Fatalf("ended at or before the batch timeout: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	select {
	case clk.tick <- clk.start.Add(batchTimeout + time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	select {
	case err := <-ended:
		require.ErrorContains(t, err, "cluster: run batchdl: batch 2 not done within 5s (the batch timeout): still waiting for the worker of nodes 0-1 (pid 0 on ), the worker of nodes 2-3 (pid 0 on ); stopping")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
}

// batchCtx bounds one batch of a test (internal/testdeadline).
func batchCtx(t testing.TB) context.Context {
	t.Helper()
	return testdeadline.BatchCtx(t)
}

// TestAwaitNamesTheAwaited: a wait that ends early (its context cancelled, here while
// the setup's ready is due) names the reply and the workers it waited for, and keeps the
// context's error.
func TestAwaitNamesTheAwaited(t *testing.T) {
	f := newFixture(2, 23)
	co, _ := fakeWorkers(t, "awaited", []Range{{0, 1}, {2, 3}}, Options{Timeout: time.Minute}, f)
	ctx, cancel := context.WithCancel(batchCtx(t))
	cancel()
	_, err := co.Step(ctx, f.batches[0].x, f.batches[0].labels)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualError(t, err, "cluster: run awaited: waiting for ready 1 from the worker of nodes 0-1 (pid 0 on ) and the worker of nodes 2-3 (pid 0 on ): context canceled")
}
