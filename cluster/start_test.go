package cluster

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/stretchr/testify/require"
)

// testWorkerEnv makes this test binary a worker (TestMain): Start's local workers run
// `Executable worker args...`, and the tests give it the test binary, whose command
// line is then what cmd/pcnet's worker takes.
const testWorkerEnv = "PCNET_CLUSTER_TEST_WORKER"

// testWorker is the test binary as `pcnet worker`: it reads the flags Start gives its
// workers, serves and returns the exit status. With testWorkerEnv set to "exit:N", the
// worker whose nodes begin at N exits 3 with one line before it joins, as one that a
// flood took off the server does.
func testWorker(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	url := fs.String("nats", "", "")
	tokenEnv := fs.String("nats-token-env", "", "")
	keyEnv := fs.String("run-key-env", "", "")
	run := fs.String("run", "", "")
	nodes := fs.String("nodes", "", "")
	timeout := fs.Duration("timeout", DefaultTimeout, "")
	if len(args) == 0 || args[0] != "worker" || fs.Parse(args[1:]) != nil {
		fmt.Fprintf(os.Stderr, "test worker: bad command line %q\n", args)
		return 2
	}
	r, err := ParseRange(*nodes)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if os.Getenv(testWorkerEnv) == fmt.Sprintf("exit:%d", r.Lo) {
		fmt.Fprintln(os.Stderr, "test worker: lost the connection to the NATS server (slow consumer)")
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := natsconn.Dial(ctx, natsconn.ClientOptions{URL: *url, Token: natsconn.Secret{Env: *tokenEnv}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	key, err := LoadKey(natsconn.Secret{Env: *keyEnv})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := Serve(ctx, WorkerOptions{Conn: nc, Key: key, Run: *run, Nodes: r, Timeout: *timeout}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// stepAll runs the fixture's batches through c and returns what the run shows.
func stepAll(t *testing.T, c *Cluster[float64], f *fixture) outcome {
	t.Helper()
	var got outcome
	for _, b := range f.batches {
		loss, err := c.Step(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		got.losses = append(got.losses, math.Float64bits(loss))
	}
	require.NoError(t, c.Sync(batchCtx(t)))
	got.params = stateOf(c.Layers(), c.Optimizers())
	return got
}

// TestStartDialsWorkersElsewhere: Start reaches workers started elsewhere through the
// server it dials, says where every node runs, learns what one process learns, and its
// Close stops the workers (they return nil) and closes its connection.
func TestStartDialsWorkersElsewhere(t *testing.T) {
	const h = 2
	f := newFixture(h, 13)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	want := inProcess(t, f, cfg)
	ranges := []Range{{0, 0}, {1, 3}}
	c := startCluster(t, "elsewhere", ranges, 2*time.Second)
	var log bytes.Buffer
	cl, err := Start(batchCtx(t), StartOptions{
		Dial: natsconn.ClientOptions{URL: c.srv.URL, Token: natsconn.Secret{Value: c.srv.Token}},
		Run:  "elsewhere", Placement: ranges, Key: testKey, Timeout: 2 * time.Second, Log: &log,
	}, layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	got := stepAll(t, cl, f)
	conn := cl.conn
	require.NoError(t, cl.Close())
	require.True(t, conn.IsClosed(), "Close closes the connection Start made")
	for i := range ranges {
		require.NoError(t, c.wait(t, i, 5*time.Second), "worker %d after Close", i)
	}
	require.Equal(t, want.losses, got.losses)
	require.Equal(t, want.params, got.params)
	require.Regexp(t, regexp.MustCompile(`^workers: NATS nats://127\.0\.0\.1:\d+, run elsewhere, waiting for 2 workers
  node 0: pid \d+ on \S+
  nodes 1-3: pid \d+ on \S+
$`), log.String())
}

// TestStartLocalWorkers: Start with Workers starts an embedded server and the worker
// processes (this test binary as `pcnet worker`), learns what one process learns, and
// Close leaves no process, server or goroutine behind.
func TestStartLocalWorkers(t *testing.T) {
	const h = 2
	f := newFixture(h, 17)
	cfg := pcnet.Config{Variant: pcnet.FixedPrediction, Steps: h, Gamma: 1, MaxBatch: 8, Optimizer: adam}
	want := inProcess(t, f, cfg)
	exe, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(testWorkerEnv, "1")
	var log, stderr syncBuffer
	cl, err := Start(batchCtx(t), StartOptions{Workers: 3, Executable: exe, Stderr: &stderr, Timeout: 5 * time.Second, Log: &log}, layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	got := stepAll(t, cl, f)
	local := cl.local
	require.NoError(t, cl.Close(), "stderr: %s", stderr.String())
	require.Equal(t, want.losses, got.losses)
	require.Equal(t, want.params, got.params)
	for i, p := range local.procs {
		require.NotNil(t, p.ProcessState, "worker %d waited for", i)
		require.True(t, p.ProcessState.Success(), "worker %d: %v", i, p.ProcessState)
	}
	require.True(t, local.conn.IsClosed())
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	require.Len(t, lines, 4, "log: %s", log.String())
	require.Regexp(t, `^workers: embedded NATS server nats://127\.0\.0\.1:\d+, run run-[0-9a-f]{12}$`, lines[0])
	for i, r := range []string{"nodes 0-1", "node 2", "node 3"} {
		require.Regexp(t, fmt.Sprintf(`^  %s: pid %d on \S+$`, r, local.procs[i].Process.Pid), lines[i+1])
	}
}

// TestStartNamesAWorkerThatExits: a local worker process that ends, before it joined or
// during a batch, ends the run at once with one line naming the worker and how it
// ended, well within the join timeout and the heartbeat timeout (a minute each here),
// and nothing names it a second time.
func TestStartNamesAWorkerThatExits(t *testing.T) {
	f := newFixture(2, 5)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: 3, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
	exe, err := os.Executable()
	require.NoError(t, err)
	o := StartOptions{Workers: 3, Executable: exe, Timeout: time.Minute, JoinTimeout: time.Minute}

	t.Run("before it joined", func(t *testing.T) {
		t.Setenv(testWorkerEnv, "exit:2")
		var stderr syncBuffer
		o := o
		o.Stderr = &stderr
		_, err := Start(batchCtx(t), o, layer.CloneAll[float64](f.layers), cfg)
		require.Error(t, err)
		require.Regexp(t, `^cluster: run run-[0-9a-f]{12}: the worker of node 2 \(pid \d+\) exited \(exit status 3\) before it joined; stopping$`, err.Error())
		require.Contains(t, stderr.String(), "test worker: lost the connection", "the worker's own line")
	})
	t.Run("during a batch", func(t *testing.T) {
		t.Setenv(testWorkerEnv, "1")
		var stderr syncBuffer
		o := o
		o.Stderr = &stderr
		cl, err := Start(batchCtx(t), o, layer.CloneAll[float64](f.layers), cfg)
		require.NoError(t, err)
		pid := cl.local.procs[1].Process.Pid
		require.NoError(t, cl.local.procs[1].Process.Kill())
		b := f.batches[0]
		_, err = cl.Step(batchCtx(t), b.x, b.labels)
		require.Error(t, err)
		require.Regexp(t, fmt.Sprintf(`^cluster: run run-[0-9a-f]{12}: the worker of node 2 \(pid %d on \S+\) exited \(signal: killed\) while \w+ \d+ was due; stopping$`, pid), err.Error())
		// The other workers stop when told; the one whose exit Step named is not named again.
		require.NoError(t, cl.Close(), "stderr: %s", stderr.String())
	})
}

func TestStartRejects(t *testing.T) {
	f := newFixture(2, 1)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: 2, Gamma: 1}
	for _, tc := range []struct {
		name string
		o    StartOptions
		want string
	}{
		{"no key", StartOptions{Dial: natsconn.ClientOptions{URL: "nats://127.0.0.1:1"}, Run: "r", Placement: []Range{{0, 3}}}, "cluster: run key of 0 bytes; need 32"},
		{"nothing", StartOptions{}, "cluster: Start: no workers to start (StartOptions.Workers) and no server to dial (StartOptions.Dial)"},
		{"no binary", StartOptions{Workers: 2}, "cluster: Start: local workers need the pcnet binary (StartOptions.Executable)"},
		{"negative timeout", StartOptions{Workers: 2, Timeout: -time.Second}, "cluster: negative timeout"},
		{"too many workers", StartOptions{Workers: 5, Executable: "/nonexistent"}, "cluster: 5 workers for 4 nodes; need 1 to 4"},
		{"no server", StartOptions{Dial: natsconn.ClientOptions{URL: "nats://127.0.0.1:1"}, Run: "r", Placement: []Range{{0, 3}}, Key: testKey, JoinTimeout: time.Second}, "natsconn: connect to nats://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(batchCtx(t), tc.o, layer.CloneAll[float64](f.layers), cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// syncBuffer is a bytes.Buffer that the worker processes' output goroutines and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
