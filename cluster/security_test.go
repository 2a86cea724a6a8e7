package cluster

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// runAll steps every batch of f through co, calling between(i) before batch i, and
// returns the run's outcome after a Sync.
func runAll(t *testing.T, co *Coordinator[float64], f *fixture, between func(i int)) outcome {
	t.Helper()
	var got outcome
	for i, b := range f.batches {
		between(i)
		loss, err := co.Step(batchCtx(t), b.x, b.labels)
		require.NoError(t, err, "batch %d", i)
		got.losses = append(got.losses, math.Float64bits(loss))
	}
	require.NoError(t, co.Sync(batchCtx(t)))
	got.params = stateOf(co.Layers(), co.Optimizers())
	return got
}

// countFrames counts the frames published on every worker's command subject of run. The
// subscription is synchronous: after a Flush every frame the server delivered before it is
// in the subscription's queue (an asynchronous callback might not have run yet), so the
// count is exact.
func countFrames(t *testing.T, nc *nats.Conn, run string) func() int {
	t.Helper()
	sub, err := nc.SubscribeSync("pcnet." + run + ".node.*.cmd")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	n := 0
	return func() int {
		require.NoError(t, nc.Flush())
		for {
			if _, err := sub.NextMsg(time.Millisecond); err != nil {
				require.ErrorIs(t, err, nats.ErrTimeout)
				return n
			}
			n++
		}
	}
}

// TestSecondCoordinatorFailsAtOnce: a coordinator started on a run ID in use fails at
// once with a line naming the run and the first coordinator's pid and host, sends
// nothing to the first run's workers, and the first run ends bit for bit as an
// undisturbed one.
func TestSecondCoordinatorFailsAtOnce(t *testing.T) {
	const h = 2
	f := newFixture(h, 41)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	want := inProcess(t, f, cfg)
	ranges := []Range{{0, 1}, {2, 3}}
	c := startCluster(t, "taken", ranges, 2*time.Second)
	co, nc := c.coordinator(t, f, cfg, 2*time.Second)
	defer nc.Close()
	spy := dial(t, c.srv, "spy")
	defer spy.Close()
	frames := countFrames(t, spy, "taken")
	got := runAll(t, co, f, func(i int) {
		if i != 2 {
			return
		}
		// What the first coordinator published (a batch's last commands may still be in
		// its connection's buffer when Step returns) reaches the server first, so that
		// the count before is complete.
		require.NoError(t, nc.Flush())
		before := frames()
		nc2 := dial(t, c.srv, "second coordinator")
		defer nc2.Close()
		_, err := NewCoordinator(batchCtx(t), Options{Conn: nc2, Key: testKey, Run: "taken", Workers: ranges, Timeout: 2 * time.Second}, layer.CloneAll[float64](f.layers), cfg)
		require.Error(t, err)
		require.Regexp(t, `^cluster: run taken is taken: its coordinator, pid \d+ on \S+, holds it; give this run another ID$`, err.Error())
		require.NoError(t, nc2.Flush())
		require.Equal(t, before, frames(), "the second coordinator sent nothing to the workers")
	})
	require.NoError(t, co.Close())
	for i := range ranges {
		require.NoError(t, c.wait(t, i, 5*time.Second), "worker %d", i)
	}
	require.Equal(t, want.losses, got.losses)
	require.Equal(t, want.params, got.params)
}

// TestClaimRace: of coordinators claiming one run at the same time, exactly one holds it.
func TestClaimRace(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	for _, n := range []int{2, 3} {
		var wg sync.WaitGroup
		claims := make([]*claim, n)
		errs := make([]error, n)
		for i := range n {
			nc := dial(t, c.srv, "claimant")
			defer nc.Close()
			ctx := batchCtx(t) // here, not in the goroutine: batchCtx may fail the test
			wg.Go(func() {
				var me claimMsg
				me.ID[0], me.PID, me.Host = byte(i+1), i, "h"
				claims[i], errs[i] = claimRun(ctx, nc, "race", me, claimWaits{answer: time.Minute, window: 200 * time.Millisecond}, &rejections{})
			})
		}
		wg.Wait()
		held := 0
		for i := range n {
			if errs[i] == nil {
				held++
				claims[i].release()
			} else {
				require.ErrorContains(t, errs[i], "cluster: run race is taken")
			}
		}
		require.Equal(t, 1, held, "%d claimants", n)
	}
}

// TestClaimAsks: a claim is decided by the first answer to its request, not by a wait:
// with nothing subscribed ("no responders") it holds the run however long it would wait
// for an answer, a holder's answer fails it at once, and a stranger subscribed on the
// claim subject that never answers delays it by the answer wait only.
func TestClaimAsks(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	me := claimMsg{PID: 1, Host: "me"}
	me.ID[0] = 2
	for _, tc := range []struct {
		name   string
		before func(t *testing.T, run string) // who is on the run's claim subject
		waits  claimWaits
		err    string
	}{
		{"free", func(*testing.T, string) {}, claimWaits{answer: time.Hour, window: time.Millisecond}, ""},
		{"held", func(t *testing.T, run string) {
			nc := dial(t, c.srv, "holder")
			t.Cleanup(nc.Close)
			holder := claimMsg{PID: 4711, Host: "a"}
			holder.ID[0] = 9 // larger than mine: it holds, it does not yield
			cl, err := claimRun(batchCtx(t), nc, run, holder, claimWaits{answer: time.Hour, window: time.Millisecond}, &rejections{})
			require.NoError(t, err)
			t.Cleanup(cl.release)
			// The answer to its request decides: the claimant never claims a second time.
			spy := dial(t, c.srv, "spy")
			t.Cleanup(spy.Close)
			claims, err := spy.SubscribeSync(claimSubject(run))
			require.NoError(t, err)
			require.NoError(t, spy.Flush())
			t.Cleanup(func() {
				require.NoError(t, spy.Flush())
				n, _, err := claims.Pending()
				require.NoError(t, err)
				require.Equal(t, 1, n, "claims heard")
			})
		}, claimWaits{answer: time.Hour, window: time.Hour}, "cluster: run held is taken: its coordinator, pid 4711 on a, holds it; give this run another ID"},
		{"silent stranger", func(t *testing.T, run string) {
			nc := dial(t, c.srv, "stranger")
			t.Cleanup(nc.Close)
			_, err := nc.SubscribeSync(claimSubject(run))
			require.NoError(t, err)
			require.NoError(t, nc.Flush())
		}, claimWaits{answer: 10 * time.Millisecond, window: time.Millisecond}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := strings.ReplaceAll(tc.name, " ", "-")
			tc.before(t, run)
			nc := dial(t, c.srv, "claimant")
			defer nc.Close()
			cl, err := claimRun(batchCtx(t), nc, run, me, tc.waits, &rejections{})
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.True(t, cl.claimed.Load())
			cl.release()
		})
	}
}

// commander sends commands on the workers' subjects as a coordinator of id would.
func commander(t *testing.T, nc *nats.Conn, run string, id coordID) *sender {
	s := newSender(nc, run, testKey)
	s.from = id
	return s
}

// setupOf is the setup a coordinator of id sends the worker of r for f's network.
func setupOf[T tensor.Float](f *fixtureOf[T], r Range, id coordID, maxBatch int) *message {
	sizes := []int{f.layers[0].In()}
	for _, d := range f.layers {
		sizes = append(sizes, d.Out())
	}
	m := &message{Kind: kindSetup, Seq: 1, From: id, LinkSetup: 1,
		Net: spec.Run{Sizes: sizes, Activation: layer.Tanh, Loss: "nll", Algorithm: spec.PC, Optimizer: adam, Batch: maxBatch, Precision: spec.PrecisionOf[T](),
			PC: spec.PCSettings{Steps: 3, Gamma: 0.5, K: 1, Engine: pcnet.Parallel, Schedule: pcnet.Event}}}
	for l := r.Lo; l <= min(r.Hi, len(f.layers)-1); l++ {
		p := f.layers[l].Params()
		m.Layers = append(m.Layers, captureLayer(f.layers[l], [2]*optim.State[T]{optim.NewState[T](adam, len(p[0])), optim.NewState[T](adam, len(p[1]))}))
	}
	return m
}

// serveOne runs one worker of run on nodes r and returns its end once it has said hello
// (it is then subscribed to its commands).
func serveOne(t *testing.T, c *testCluster, run string, r Range) <-chan error {
	wc := dial(t, c.srv, "worker")
	t.Cleanup(wc.Close)
	hello := make(chan *nats.Msg, 64)
	sub, err := wc.ChanSubscribe(reportSubject(run, r.Lo), hello)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	ended := make(chan error, 1)
	serveCtx := batchCtx(t) // here, not in the goroutine: batchCtx may fail the test
	go func() {
		ended <- Serve(serveCtx, WorkerOptions{Conn: wc, Key: testKey, Run: run, Nodes: r, Timeout: 5 * time.Second, JoinTimeout: 20 * time.Second})
	}()
	select {
	case <-hello:
	case err := <-ended:
		t.Fatalf("the worker ended before its hello: %v", err)
	}
	return ended
}

func waitEnd(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-batchCtx(t).Done():
		t.Fatal("the worker did not end")
	}
	return nil
}

// TestWorkerRefusesOversizedSetup: a setup declaring widths its theta does not have is
// refused before anything is allocated by them (a few hundred bytes that declare 2 x
// 128 MiB of weights), and the worker ends with one line saying why.
func TestWorkerRefusesOversizedSetup(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	f := newFixture(1, 3)
	r := Range{0, 1}
	ended := serveOne(t, c, "huge", r)
	nc := dial(t, c.srv, "forger")
	defer nc.Close()
	m := setupOf(f, r, coordID{9}, 8)
	m.Net.Sizes = []int{4096, 4096, 4096}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, commander(t, nc, "huge", coordID{9}).send(cmdSubject("huge", 0), 0, m))
	err := waitEnd(t, ended)
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "cluster: worker of nodes 0-1, run huge: setup refused: layer 0 of 4096x4096:")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "allocated by the setup")
}

// TestWorkerBounds: what a command declares beyond what its setup allows, or in another
// precision than its setup's, is refused with one line, before anything is allocated by
// it.
func TestWorkerBounds(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	f := newFixture(1, 5)
	r := Range{0, 2}
	n0 := f.layers[0].In()
	for i, tc := range []struct {
		name  string
		setup *message
		edit  func(*message)
		batch []byte // inputs of a batch of batch/n0 rows after the setup, if any
		want  string
	}{
		{"width", setupOf(f, r, coordID{3}, 8), func(m *message) { m.Net.Sizes[1] = spec.MaxWidth + 1 }, nil, "width"},
		{"max batch", setupOf(f, r, coordID{3}, 8), func(m *message) { m.Net.Batch = spec.MaxBatch + 1 }, nil, "a max batch of 65537"},
		{"working memory", setupOf(f, r, coordID{3}, 8), func(m *message) { m.Net.Batch = spec.MaxBatch; m.Net.Sizes[0] = 1 << 12 }, nil, "exceeds"},
		{"batch rows", setupOf(f, r, coordID{3}, 8), nil, floatBytes(make([]float64, 9*n0)), "batch 2 of 9 rows; the setup's max batch is 8"},
		{"precision", setupOf(f, r, coordID{3}, 8), func(m *message) { m.Net.Precision = 7 }, nil, "setup refused: precision Precision(7); want f32 or f64"},
		{"theta in float64, setup in float32", setupOf(f, r, coordID{3}, 8), func(m *message) { m.Net.Precision = spec.F32 },
			nil, fmt.Sprintf("setup refused: layer 0 of %dx%d: %d weight and %d bias bytes (float32)", n0, f.layers[0].Out(), 8*n0*f.layers[0].Out(), 8*f.layers[0].Out())},
		{"theta in float32, setup in float64", setupOf(fixtureIn[float32](f), r, coordID{3}, 8), func(m *message) { m.Net.Precision = spec.F64 },
			nil, fmt.Sprintf("layer 0 of %dx%d: %d weight and %d bias bytes (float64)", n0, f.layers[0].Out(), 4*n0*f.layers[0].Out(), 4*f.layers[0].Out())},
		{"float64 batch, float32 setup", setupOf(fixtureIn[float32](f), r, coordID{3}, 8), nil, floatBytes(make([]float64, 2*n0)),
			fmt.Sprintf("batch 2: %d bytes of inputs for 2 rows of %d float32s", 16*n0, n0)},
		{"float32 batch, float64 setup", setupOf(f, r, coordID{3}, 8), nil, floatBytes(make([]float32, 2*n0)),
			fmt.Sprintf("batch 2: %d bytes of inputs for 2 rows of %d float64s", 8*n0, n0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := fmt.Sprintf("bounds%d", i)
			ended := serveOne(t, c, run, r)
			nc := dial(t, c.srv, "forger")
			defer nc.Close()
			s := commander(t, nc, run, coordID{3})
			m := tc.setup
			if tc.edit != nil {
				tc.edit(m)
			}
			require.NoError(t, s.send(cmdSubject(run, 0), 0, m))
			if tc.batch != nil {
				rows := 9
				if tc.name != "batch rows" {
					rows = 2
				}
				require.NoError(t, s.send(cmdSubject(run, 0), 0, &message{Kind: kindBatch, Seq: 2, From: coordID{3}, Rows: rows, X: tc.batch, Labels: make([]int, rows)}))
			}
			require.ErrorContains(t, waitEnd(t, ended), tc.want)
		})
	}
}

// TestForeignCommandsIgnored: commands on the workers' subjects from a coordinator other
// than the one that set them up (a stop, a batch, a setup, a fetch) are dropped and
// counted, and the run ends bit for bit as an undisturbed one.
func TestForeignCommandsIgnored(t *testing.T) {
	const h = 2
	f := newFixture(h, 43)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	want := inProcess(t, f, cfg)
	ranges := []Range{{0, 1}, {2, 3}}
	c := startCluster(t, "foreign", ranges, 2*time.Second)
	nc := dial(t, c.srv, "coordinator")
	defer nc.Close()
	var mu sync.Mutex
	rejected := map[string]uint64{}
	var log bytes.Buffer
	co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: "foreign", Workers: ranges, Timeout: 2 * time.Second, Log: &log,
		Rejected: func(r Rejected) { mu.Lock(); rejected[r.Kind+"/"+r.Reason] += r.N; mu.Unlock() }}, layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	fc := dial(t, c.srv, "foreign coordinator")
	defer fc.Close()
	foe := commander(t, fc, "foreign", coordID{0xee})
	got := runAll(t, co, f, func(i int) {
		if i == 0 {
			return
		}
		for _, r := range ranges {
			for _, m := range []*message{{Kind: kindStop}, {Kind: kindBatch, Seq: 99, Rows: 1}, setupOf(f, r, coordID{0xee}, 8), {Kind: kindFetch, Seq: 7}} {
				m.From = coordID{0xee}
				require.NoError(t, foe.send(cmdSubject("foreign", r.Lo), r.Lo, m))
			}
		}
		require.NoError(t, fc.Flush())
	})
	require.NoError(t, co.Close())
	for i := range ranges {
		require.NoError(t, c.wait(t, i, 5*time.Second), "worker %d", i)
	}
	require.Equal(t, want.losses, got.losses)
	require.Equal(t, want.params, got.params)
	mu.Lock()
	defer mu.Unlock()
	require.NotZero(t, rejected["command/foreign coordinator"], "counted: %v", rejected)
	require.Regexp(t, `^warning: run foreign: dropped \d+ command message\(s\) \(foreign coordinator\); see pcnet_rejected_messages_total\n$`, log.String(), "one line per kind")
}

// TestBadCommandDuringBatchReported: a command of the worker's own coordinator that
// comes during a batch (here a fetch) is reported to the coordinator at once, not found
// as a silence after the heartbeat timeout (a minute here).
func TestBadCommandDuringBatchReported(t *testing.T) {
	const h = 2
	f := newFixture(h, 47)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	ranges := []Range{{0, 1}, {2, 3}}
	c := startCluster(t, "badcmd", ranges, time.Minute)
	nc := dial(t, c.srv, "coordinator")
	defer nc.Close()
	co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: "badcmd", Workers: ranges, Timeout: time.Minute, Delay: 50 * time.Millisecond}, layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	defer co.Close()
	_, err = co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels) // the setup
	require.NoError(t, err)
	spy := dial(t, c.srv, "spy")
	defer spy.Close()
	batches := make(chan struct{}, 4)
	sub, err := spy.Subscribe(cmdSubject("badcmd", 2), func(*nats.Msg) { batches <- struct{}{} })
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, spy.Flush())
	ctx, cancel := context.WithTimeout(batchCtx(t), 10*time.Second) // well below the minute
	defer cancel()
	ended := make(chan error, 1)
	go func() {
		_, err := co.Step(ctx, f.batches[1].x, f.batches[1].labels)
		ended <- err
	}()
	<-batches // the batch reached the worker of nodes 2-3: a fetch now comes during it
	require.NoError(t, co.out.send(cmdSubject("badcmd", 2), 2, &message{Kind: kindFetch, Seq: 99, From: co.id}))
	err = <-ended
	require.ErrorContains(t, err, "cluster: run badcmd: the worker of nodes 2-3 (pid")
	require.ErrorContains(t, err, "failed: a command during batch 3: fetch")
	require.ErrorContains(t, c.wait(t, 1, 5*time.Second), "a command during batch 3: fetch")
}

// TestWorkerStoppedEndsWithAnError: a worker that did not finish its run ends with an
// error (exit 1 in `pcnet worker`), one line: here stopped before any setup.
func TestWorkerStoppedEndsWithAnError(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	ended := serveOne(t, c, "early", Range{0, 3})
	nc := dial(t, c.srv, "coordinator")
	defer nc.Close()
	require.NoError(t, commander(t, nc, "early", coordID{5}).send(cmdSubject("early", 0), 0, &message{Kind: kindStop, From: coordID{5}}))
	require.EqualError(t, waitEnd(t, ended), "cluster: worker of nodes 0-3, run early: stopped by the coordinator before it set this worker up")
}

// TestSpoofedHeartbeatsDoNotKeepAWorkerAlive: heartbeats on a silent worker's subject
// that are not signed with the run key, or replay one that was, are dropped and
// counted: the coordinator still finds the worker gone.
func TestSpoofedHeartbeatsDoNotKeepAWorkerAlive(t *testing.T) {
	f := newFixture(2, 53)
	ranges := []Range{{0, 1}, {2, 3}}
	co, out := fakeWorkers(t, "spoof", ranges, Options{Timeout: 500 * time.Millisecond}, f)
	wrongKey := bytes.Repeat([]byte{8}, KeySize)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for n := uint64(1); ; n++ {
			for _, r := range ranges {
				subject := beatSubject("spoof", r.Lo)
				_ = out.publish(&nats.Msg{Subject: subject, Data: signBeat(wrongKey, subject, n)})
				_ = out.publish(&nats.Msg{Subject: subject, Data: signBeat(testKey, subject, 5)}) // taken once, then a replay
				_ = out.publish(&nats.Msg{Subject: subject, Data: []byte("beat")})
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	_, err := co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
	close(stop)
	<-stopped
	require.ErrorContains(t, err, "sent no heartbeat for")
	counts := map[string]bool{}
	for _, r := range co.rej.take() {
		counts[r.Kind+"/"+r.Reason] = r.N > 0
	}
	require.Equal(t, map[string]bool{"heartbeat/mac": true, "heartbeat/replay": true, "heartbeat/malformed": true}, counts)
}

// TestPickFault: the network's fault among the workers' is the one-process one: the
// output node's first, then the first in node order (before the fix, the last worker's
// fault of a node other than the output came first).
func TestPickFault(t *testing.T) {
	const h = 3 // nodes 0..4
	for _, tc := range []struct {
		name  string
		nodes []int // each worker's fault node, -1: none
		want  int   // index of the report picked, -1: none
	}{
		{"none", []int{-1, -1}, -1},
		{"output", []int{1, 4}, 1},
		{"first in node order", []int{1, 3}, 0},
		{"only the last, not the output", []int{-1, 3}, 1},
		{"middle", []int{-1, 2, -1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reports []*message
			for _, n := range tc.nodes {
				r := &message{Kind: kindReport, FaultNode: n}
				if n >= 0 {
					r.Fault = "fault of node " + string(rune('0'+n))
				}
				reports = append(reports, r)
			}
			got := pickFault(reports, h)
			if tc.want < 0 {
				require.Nil(t, got)
				return
			}
			require.Same(t, reports[tc.want], got)
		})
	}
}

// freezer is a TCP proxy to a NATS server whose connections can be frozen: kept open,
// nothing forwarded either way, as by a server that hangs.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	thaw   *sync.Cond
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln}
	f.thaw = sync.NewCond(&f.mu)
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			f.mu.Unlock()
			f.wg.Go(func() { f.pipe(s, c) })
			f.wg.Go(func() { f.pipe(c, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		f.frozen = false
		f.thaw.Broadcast()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.thaw.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

// TestHungServerNamed: a server that keeps the coordinator's connection open but
// forwards nothing is named as the cause, not a worker.
func TestHungServerNamed(t *testing.T) {
	const h = 2
	f := newFixture(h, 59)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	ranges := []Range{{0, 1}, {2, 3}}
	const timeout = 500 * time.Millisecond
	c := startCluster(t, "hung", ranges, time.Minute)
	u, err := url.Parse(c.srv.URL)
	require.NoError(t, err)
	fr := newFreezer(t, u.Host)
	nc, err := natsconn.Dial(batchCtx(t), natsconn.ClientOptions{URL: "nats://" + fr.ln.Addr().String(), Token: natsconn.Secret{Value: c.srv.Token}})
	require.NoError(t, err)
	defer nc.Close()
	co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: "hung", Workers: ranges, Timeout: timeout}, layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	defer co.Close()
	_, err = co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
	require.NoError(t, err)
	fr.freeze()
	_, err = co.Step(batchCtx(t), f.batches[1].x, f.batches[1].labels)
	require.ErrorContains(t, err, "cluster: run hung: the NATS server nats://"+fr.ln.Addr().String()+" does not answer")
}

// TestSlowConsumerIsAnError: a message subscription's queue is bounded by what its
// subject can hold (pendingOf); frames beyond it, queued while the reader is busy, are
// dropped by the client, and the drop reaches the reader as one error naming the
// subject, after the message it was busy with.
func TestSlowConsumerIsAnError(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	nc := dial(t, c.srv, "reader")
	defer nc.Close()
	ctx := batchCtx(t)
	out := make(chan delivery) // read only once the flood is queued
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	subject := cmdSubject("slow", 0)
	in := inbox{run: "slow", lo: 0, key: testKey, subject: subject, rej: &rejections{}, kind: rejCommand,
		limit: func() int64 { return smallMessage }}
	sub, err := subscribeMessages(nc, in, out, done, &wg)
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	msgs, bytes, err := sub.PendingLimits()
	require.NoError(t, err)
	wantMsgs, wantBytes := pendingOf(smallMessage, nc.MaxPayload())
	require.Equal(t, []int{wantMsgs, wantBytes}, []int{msgs, bytes})

	stranger := dial(t, c.srv, "stranger")
	defer stranger.Close()
	// The callback takes the stop and waits for the reader; the flood queues behind it.
	require.NoError(t, newSender(stranger, "slow", testKey).send(subject, 0, &message{Kind: kindStop}))
	junk := make([]byte, 16)
	for range msgs + 1 {
		require.NoError(t, stranger.Publish(subject, junk))
	}
	require.NoError(t, stranger.Flush())
	require.Eventually(t, func() bool { n, _ := sub.Dropped(); return n > 0 }, 10*time.Second, time.Millisecond)

	var got []delivery
	for range 2 {
		select {
		case d := <-out:
			got = append(got, d)
		case <-ctx.Done():
			t.Fatalf("%d deliveries, want the stop and the drop", len(got))
		}
	}
	if got[0].err != nil {
		got[0], got[1] = got[1], got[0]
	}
	require.NoError(t, got[0].err)
	require.Equal(t, kindStop, got[0].m.Kind)
	require.Regexp(t, `^pcnet\.slow\.node\.0\.cmd: \d+ frame\(s\) dropped by the client \(slow consumer: its queue of \d+ frames, \d+ bytes, was full\); a message of the run is lost$`, got[1].err.Error())
}

// TestLargeCommandFromACoordinator: a command larger than the server's max payload,
// sent by a coordinator (its ID in each frame's NATS header, which the server counts in
// the payload), is chunked below the max payload and arrives whole.
func TestLargeCommandFromACoordinator(t *testing.T) {
	c := startCluster(t, "unused", nil, time.Minute)
	nc := dial(t, c.srv, "worker")
	defer nc.Close()
	out := make(chan delivery, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	subject := cmdSubject("large", 0)
	in := inbox{run: "large", lo: 0, key: testKey, subject: subject, rej: &rejections{}, kind: rejCommand, limit: unlimited}
	sub, err := subscribeMessages(nc, in, out, done, &wg)
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(t, nc.Flush())

	co := dial(t, c.srv, "coordinator")
	defer co.Close()
	var id coordID
	id[0] = 7
	x := make([]byte, 3*int(co.MaxPayload())/2)
	require.NoError(t, commander(t, co, "large", id).send(subject, 0, &message{Kind: kindBatch, Seq: 1, X: x}))
	select {
	case d := <-out:
		require.NoError(t, d.err)
		require.Equal(t, kindBatch, d.m.Kind)
		require.Len(t, d.m.X, len(x))
	case <-batchCtx(t).Done():
		t.Fatal("the command did not arrive")
	}
}
