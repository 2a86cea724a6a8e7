package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/cluster"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// smallRun is the network and data of the tests that start worker processes: small, so
// that the suite stays fast on two cores; in float64 unless a test adds -precision f32
// (the last -precision given is the one).
var smallRun = []string{"-hidden", "2", "-width", "16", "-max-train", "640", "-batch", "64", "-metrics-addr", "", "-cosine-every", "0", "-precision", "f64"}

func trainArgs(variant, out string, extra ...string) []string {
	return append(append([]string{"train", "-variant", variant, "-out", out}, smallRun...), extra...)
}

// requireSameCheckpoint fails unless the two checkpoints hold the same metadata and
// every tensor bit for bit.
func requireSameCheckpoint(t *testing.T, wantName, wantPath, gotName, gotPath string) {
	t.Helper()
	want, err := safetensors.ReadFile(wantPath)
	require.NoError(t, err)
	got, err := safetensors.ReadFile(gotPath)
	require.NoError(t, err)
	require.Equal(t, want.Metadata, got.Metadata)
	require.Len(t, got.Tensors, len(want.Tensors))
	for i, w := range want.Tensors {
		g := got.Tensors[i]
		require.Equal(t, w.Name, g.Name)
		require.Equal(t, w.Shape, g.Shape)
		require.Equal(t, w.DType, g.DType, w.Name)
		for j := range w.Data {
			if math.Float64bits(w.Data[j]) != math.Float64bits(g.Data[j]) {
				t.Fatalf("%s[%d]: %s %v, %s %v", w.Name, j, wantName, w.Data[j], gotName, g.Data[j])
			}
		}
	}
}

var figureLine = regexp.MustCompile(`(?m)^((?:epoch \d+/\d+  |test accuracy ).*?)(?:  time .*|; checkpoint: .*)?$`)

// losses are the figures a run printed: every batch's and epoch's loss, the accuracies,
// and the epoch's summary of the observer's metrics (the step each distance first moved
// and converged at, the share unconverged); everything but the times.
func losses(stdout string) []string {
	var out []string
	for _, m := range figureLine.FindAllStringSubmatch(stdout, -1) {
		out = append(out, m[1])
	}
	return out
}

var workerLine = regexp.MustCompile(`^  nodes? (\d+)(?:-\d+)?: pid (\d+) on `)

// workerPIDs reads the workers' pids from a run's output, by first node.
func workerPIDs(t *testing.T, stdout string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, line := range strings.Split(stdout, "\n") {
		if m := workerLine.FindStringSubmatch(line); m != nil {
			lo, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			out[lo] = pid
		}
	}
	return out
}

// pidOf reads the pid from a worker's line.
func pidOf(t *testing.T, line string) int {
	t.Helper()
	m := workerLine.FindStringSubmatch(line)
	require.NotNil(t, m, "worker line %q", line)
	pid, err := strconv.Atoi(m[2])
	require.NoError(t, err)
	return pid
}

// requireExited fails unless process pid has ended (or is a zombie nobody reaped yet)
// within d.
func requireExited(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil && os.IsNotExist(err) || err == nil && strings.Contains(string(stat), ") Z ") {
			return
		}
		if err != nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still running %v later (killed now)", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkersEqualInProcess: -workers 2 and 3 train, and resume, bit for bit as the
// in-process parallel engine does, in float64 and in float32: every loss and accuracy
// printed, and the checkpoint (weights, optimiser state, dtypes, metadata). Each case
// runs each worker count once from scratch: -workers 3 for both epochs, and -workers 2
// for the first, resumed with -workers 3 for the second (a run of 2 workers for both
// epochs checked nothing these do not, and took a fifth of the test's time).
func TestWorkersEqualInProcess(t *testing.T) {
	for _, tc := range []struct{ variant, precision string }{{"fpa", "f64"}, {"pc", "f64"}, {"zil", "f64"}, {"fpa", "f32"}, {"pc", "f32"}} {
		v := tc.variant
		t.Run(v+"/"+tc.precision, func(t *testing.T) {
			dir := t.TempDir()
			trainArgs := func(variant, out string, extra ...string) []string {
				return trainArgs(variant, out, append([]string{"-precision", tc.precision}, extra...)...)
			}
			want := pcnetRun(t, trainArgs(v, filepath.Join(dir, "one"), "-epochs", "2")...)
			require.Equal(t, 0, want.code, "stderr: %s", want.stderr)
			line := map[string]string{"f32": "; float32; ", "f64": "; float64; "}[tc.precision]
			require.Contains(t, want.stdout, line)
			wantPath := filepath.Join(dir, "one", v+"-H2.safetensors")
			ck, err := checkpoint.Open(wantPath)
			require.NoError(t, err)
			require.Equal(t, tc.precision, ck.Precision.String())
			// The in-process figures of the first epoch, and of the second and the end.
			var first, rest []string
			for _, f := range losses(want.stdout) {
				if strings.HasPrefix(f, "epoch 1/2") {
					first = append(first, strings.Replace(f, "epoch 1/2", "epoch 1/1", 1))
				} else {
					rest = append(rest, f)
				}
			}
			require.NotEmpty(t, first)
			require.NotEmpty(t, rest)

			out := filepath.Join(dir, "w3")
			got := pcnetRun(t, trainArgs(v, out, "-epochs", "2", "-workers", "3")...)
			require.Equal(t, 0, got.code, "stderr: %s", got.stderr)
			require.Len(t, workerPIDs(t, got.stdout), 3, "stdout: %s", got.stdout)
			require.Contains(t, got.stdout, line, "the workers' run is in the precision asked for")
			require.Equal(t, losses(want.stdout), losses(got.stdout), "-workers 3")
			requireSameCheckpoint(t, "in process", wantPath, "-workers 3", filepath.Join(out, v+"-H2.safetensors"))

			// One epoch with 2 workers, then -resume for the second with 3 fresh ones.
			out = filepath.Join(dir, "resumed")
			r := pcnetRun(t, trainArgs(v, out, "-epochs", "1", "-workers", "2")...)
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			require.Len(t, workerPIDs(t, r.stdout), 2, "stdout: %s", r.stdout)
			require.Contains(t, r.stdout, line, "the workers' run is in the precision asked for")
			require.Equal(t, first, epochLosses(r.stdout), "-workers 2, first epoch")
			path := filepath.Join(out, v+"-H2.safetensors")
			r = pcnetRun(t, "train", "-resume", path, "-epochs", "2", "-workers", "3", "-metrics-addr", "")
			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			require.Equal(t, rest, losses(r.stdout), "resumed with -workers 3")
			requireSameCheckpoint(t, "in process", wantPath, "resumed with workers", path)
		})
	}
}

// TestGraphWorkersEqualInProcess: a residual μPC network with long skips (docs/design.md
// §11) trained by -workers 2, whose skip 1:3 crosses from one worker to the other, prints
// every figure and writes the checkpoint (pre-activation maps, optimiser state, the
// graph in the metadata) bit for bit as one process does.
func TestGraphWorkersEqualInProcess(t *testing.T) {
	dir := t.TempDir()
	args := func(out string, extra ...string) []string {
		return append(trainArgs("fpa", out, "-arch", "residual", "-param", "mupc", "-activation", "relu", "-hidden", "3",
			"-skips", "1:3", "-epochs", "1"), extra...)
	}
	want := pcnetRun(t, args(filepath.Join(dir, "one"))...)
	require.Equal(t, 0, want.code, "stderr: %s", want.stderr)
	require.Contains(t, want.stdout, "residual mupc skips 1:3")
	got := pcnetRun(t, args(filepath.Join(dir, "w2"), "-workers", "2")...)
	require.Equal(t, 0, got.code, "stderr: %s", got.stderr)
	require.Equal(t, map[int]int{0: 0, 3: 0}, zeroed(workerPIDs(t, got.stdout)), "nodes 0-2 and 3-4: skip 1:3 crosses; stdout: %s", got.stdout)
	require.Equal(t, losses(want.stdout), losses(got.stdout), "-workers 2")
	requireSameCheckpoint(t, "in process", filepath.Join(dir, "one", "fpa-H3.safetensors"), "-workers 2", filepath.Join(dir, "w2", "fpa-H3.safetensors"))
}

// zeroed is m with every value 0: its keys alone.
func zeroed(m map[int]int) map[int]int {
	out := map[int]int{}
	for k := range m {
		out[k] = 0
	}
	return out
}

// epochLosses are losses without the test accuracy, which a run prints only at its end.
func epochLosses(stdout string) []string {
	var out []string
	for _, f := range losses(stdout) {
		if strings.HasPrefix(f, "epoch ") {
			out = append(out, f)
		}
	}
	return out
}

// TestWorkersOnAClusterOfServers: three NATS servers joined by routes; the coordinator
// on one, each worker on another: the same numbers as one process.
func TestWorkersOnAClusterOfServers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	servers, err := natsconn.Server{}.StartCluster(ctx, 3)
	require.NoError(t, err)
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	t.Setenv("TEST_NATS_TOKEN", servers[0].Token)
	t.Setenv("TEST_RUN_KEY", strings.Repeat("5a", cluster.KeySize))
	dir := t.TempDir()
	want := pcnetRun(t, trainArgs("pc", filepath.Join(dir, "one"), "-epochs", "1")...)
	require.Equal(t, 0, want.code, "stderr: %s", want.stderr)

	auth := []string{"-nats-token-env", "TEST_NATS_TOKEN", "-run-key-env", "TEST_RUN_KEY", "-run", "cluster-test"}
	w1 := pcnetStart(t, append([]string{"worker", "-nats", servers[1].URL, "-nodes", "0-1"}, auth...)...)
	w2 := pcnetStart(t, append([]string{"worker", "-nats", servers[2].URL, "-nodes", "2-3"}, auth...)...)
	out := filepath.Join(dir, "cluster")
	got := pcnetRun(t, trainArgs("pc", out, append([]string{"-epochs", "1", "-nats", servers[0].URL, "-placement", "0-1,2-3"}, auth...)...)...)
	require.Equal(t, 0, got.code, "stderr: %s", got.stderr)
	for _, w := range []*started{w1, w2} {
		r := w.wait()
		require.Equal(t, 0, r.code, "worker stderr: %s", r.stderr)
	}
	require.Equal(t, losses(want.stdout), losses(got.stdout))
	requireSameCheckpoint(t, "in process", filepath.Join(dir, "one", "pc-H2.safetensors"), "cluster", filepath.Join(out, "pc-H2.safetensors"))
}

// TestWorkerKilledMidEpoch: a worker killed with SIGKILL stops the run at once (its
// coordinator started it), exit status 1, one line naming the worker, its nodes and its end; the checkpoint is
// intact, the other worker exits, and -resume with fresh workers ends exactly where an
// uninterrupted run ends.
func TestWorkerKilledMidEpoch(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "killed")
	// A link delay makes the epochs long enough to kill a worker in the middle of one.
	s := pcnetStart(t, trainArgs("fpa", out, "-epochs", "3", "-workers", "2", "-timeout", "2s", "-link-delay", "3ms")...)
	survivor := pidOf(t, s.waitFor(t, "  nodes 0-1: pid "))
	pid := pidOf(t, s.waitFor(t, "  nodes 2-3: pid "))
	s.waitFor(t, "epoch 2/3  batch 3/10")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()
	r := s.wait()
	require.Less(t, time.Since(killed), 2*time.Second+3*time.Second, "the coordinator must stop within the timeout (and the survivor's grace)")
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	line := oneLine(t, r)
	require.Contains(t, line, fmt.Sprintf("the worker of nodes 2-3 (pid %d on ", pid))
	// The coordinator started the worker and sees it end: at once, not after -timeout.
	require.Contains(t, line, "exited (signal: killed) while report")
	requireExited(t, survivor, 5*time.Second)

	path := filepath.Join(out, "fpa-H2.safetensors")
	ck, err := checkpoint.Load[float64](path)
	require.NoError(t, err, "the last checkpoint is intact")
	require.Equal(t, 1, ck.Position.Epoch, "the last checkpoint is the one after epoch 1")
	resumed := pcnetRun(t, "train", "-resume", path, "-workers", "2", "-metrics-addr", "")
	require.Equal(t, 0, resumed.code, "stderr: %s", resumed.stderr)
	straight := pcnetRun(t, trainArgs("fpa", filepath.Join(dir, "straight"), "-epochs", "3")...)
	require.Equal(t, 0, straight.code, "stderr: %s", straight.stderr)
	requireSameCheckpoint(t, "uninterrupted", filepath.Join(dir, "straight", "fpa-H2.safetensors"), "resumed", path)
}

// TestCoordinatorKilled: the coordinator killed with SIGKILL takes its embedded server
// with it, and every worker process exits: no orphans.
func TestCoordinatorKilled(t *testing.T) {
	s := pcnetStart(t, trainArgs("pc", t.TempDir(), "-epochs", "3", "-workers", "3", "-timeout", "2s", "-link-delay", "3ms")...)
	var pids []int
	for _, r := range []string{"nodes 0-1", "node 2", "node 3"} {
		pids = append(pids, pidOf(t, s.waitFor(t, "  "+r+": pid ")))
	}
	s.waitFor(t, "epoch 1/3  batch 2/10")
	require.NoError(t, s.cmd.Process.Kill())
	s.wait()
	for _, pid := range pids {
		requireExited(t, pid, 5*time.Second)
	}
}

// TestServerGone: the NATS server shut down mid-run stops the coordinator and the
// workers, each with one line naming the lost connection.
func TestServerGone(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := natsconn.Server{}.Start(context.Background())
	require.NoError(t, err)
	defer srv.Shutdown()
	t.Setenv("TEST_NATS_TOKEN", srv.Token)
	t.Setenv("TEST_RUN_KEY", strings.Repeat("5a", cluster.KeySize))
	auth := []string{"-nats", srv.URL, "-nats-token-env", "TEST_NATS_TOKEN", "-run-key-env", "TEST_RUN_KEY", "-run", "gone", "-timeout", "2s"}
	w1 := pcnetStart(t, append([]string{"worker", "-nodes", "0-1"}, auth...)...)
	w2 := pcnetStart(t, append([]string{"worker", "-nodes", "2-3"}, auth...)...)
	s := pcnetStart(t, trainArgs("fpa", t.TempDir(), append([]string{"-epochs", "3", "-placement", "0-1,2-3", "-link-delay", "3ms"}, auth...)...)...)
	s.waitFor(t, "epoch 1/3  batch 2/10")
	srv.Shutdown()
	for _, p := range []*started{s, w1, w2} {
		r := p.wait()
		require.Equal(t, 1, r.code, "stderr: %s", r.stderr)
		require.Contains(t, oneLine(t, r), "lost the connection to the NATS server")
	}
}

// TestLinkDelayChangesTimeNotNumbers: a delay on every hop between workers gives the
// same numbers; the run takes at least the delay on each of the hops a batch must wait
// for.
func TestLinkDelayChangesTimeNotNumbers(t *testing.T) {
	dir := t.TempDir()
	plain := pcnetRun(t, trainArgs("zil", filepath.Join(dir, "plain"), "-epochs", "1", "-workers", "2")...)
	require.Equal(t, 0, plain.code, "stderr: %s", plain.stderr)
	start := time.Now()
	delayed := pcnetRun(t, trainArgs("zil", filepath.Join(dir, "delayed"), "-epochs", "1", "-workers", "2", "-link-delay", "4ms")...)
	took := time.Since(start)
	require.Equal(t, 0, delayed.code, "stderr: %s", delayed.stderr)
	require.Contains(t, delayed.stdout, "link delay 4ms")
	require.Equal(t, losses(plain.stdout), losses(delayed.stdout))
	requireSameCheckpoint(t, "no delay", filepath.Join(dir, "plain", "zil-H2.safetensors"), "4ms delay", filepath.Join(dir, "delayed", "zil-H2.safetensors"))
	// 10 batches, each of which crosses the boundary between the workers at least twice
	// one after the other (the prediction up, the error back down).
	require.GreaterOrEqual(t, took, 10*2*4*time.Millisecond)
}

// TestWorkerFlags: the command line of the distributed flags says what is wrong.
func TestWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker", "-nats", "nats://127.0.0.1:1"}, "a worker needs -nats, -run and -nodes"},
		{[]string{"worker", "-nats", "nats://127.0.0.1:1", "-run", "r", "-nodes", "3-1"}, "-nodes"},
		{trainArgs("bp", "x", "-workers", "2"), "bp runs in one process"},
		{trainArgs("pc", "x", "-workers", "5"), "only 4 nodes"},
		{trainArgs("pc", "x", "-nats", "nats://127.0.0.1:1"), "-nats needs -placement"},
		{trainArgs("pc", "x", "-nats", "nats://127.0.0.1:1", "-run", "r", "-placement", "0-1,3-3"), "-placement"},
		{trainArgs("pc", "x", "-workers", "2", "-nats", "nats://127.0.0.1:1"), "give one"},
		{trainArgs("pc", "x", "-placement", "0-3"), "need -workers or -nats"},
		{[]string{"worker", "-nats", "nats://127.0.0.1:1", "-run", "r", "-nodes", "0-1"}, "a worker needs the run key: -run-key-file or -run-key-env"},
		{trainArgs("pc", "x", "-nats", "nats://127.0.0.1:1", "-run", "r", "-placement", "0-1,2-3"), "-nats needs the run key its workers were given"},
		{trainArgs("pc", "x", "-workers", "2", "-run-key-env", "K"), "-workers makes its own run key"},
		{trainArgs("pc", "x", "-workers", "2", "-engine", "sequential"), "workers run the parallel engine"},
		{[]string{"compare", "-hidden", "2", "-workers", "9"}, "only 4 nodes"},
	} {
		r := pcnetRun(t, tc.args...)
		require.Equal(t, 2, r.code, "%v: stderr %s", tc.args, r.stderr)
		require.Contains(t, oneLine(t, r), tc.want, "%v", tc.args)
	}
}

// TestCompareWorkersEqualsInProcess: compare -workers reports the updates one process
// infers, bit for bit (the JSON carries every cosine, error and norm), one set of
// workers serving every variant in turn, in both precisions.
func TestCompareWorkersEqualsInProcess(t *testing.T) {
	for _, p := range []string{"f64", "f32"} {
		t.Run(p, func(t *testing.T) {
			args := []string{"compare", "-hidden", "3", "-width", "16", "-variants", "fpa,pc,zil,ipc", "-steps", "3", "-json", "-precision", p}
			want := pcnetRun(t, args...)
			require.Equal(t, 0, want.code, "stderr: %s", want.stderr)
			require.Contains(t, want.stdout, `"precision": "`+p+`"`)
			got := pcnetRun(t, append(args, "-workers", "3")...)
			require.Equal(t, 0, got.code, "stderr: %s", got.stderr)
			require.Equal(t, want.stdout, got.stdout)
			require.Contains(t, got.stderr, "node 4: pid ")
		})
	}
}

// TestWorkersInterruptAndResume: Ctrl-C reaches the coordinator alone (the workers run
// in a process group of their own); it stops after the batch, fetches the workers'
// weights into the checkpoint and stops them; resumed with another number of workers,
// the run ends exactly where an uninterrupted run in one process ends.
func TestWorkersInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "interrupted")
	s := pcnetStart(t, trainArgs("pc", out, "-epochs", "3", "-workers", "2", "-link-delay", "3ms")...)
	pids := []int{pidOf(t, s.waitFor(t, "  nodes 0-1: pid ")), pidOf(t, s.waitFor(t, "  nodes 2-3: pid "))}
	s.waitFor(t, "epoch 2/3  batch 2/10")
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	r := s.wait()
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 2, "stderr: %s", r.stderr)
	require.Regexp(t, interruptLine, lines[1])
	for _, pid := range pids {
		requireExited(t, pid, 5*time.Second)
	}
	path := filepath.Join(out, "pc-H2.safetensors")
	ck, err := checkpoint.Load[float64](path)
	require.NoError(t, err)
	require.Equal(t, 1, ck.Position.Epoch, "interrupted in the second epoch")
	require.Positive(t, ck.Position.Batch, "interrupted mid-epoch")
	r = pcnetRun(t, "train", "-resume", path, "-workers", "3", "-metrics-addr", "")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	straight := pcnetRun(t, trainArgs("pc", filepath.Join(dir, "straight"), "-epochs", "3")...)
	require.Equal(t, 0, straight.code, "stderr: %s", straight.stderr)
	requireSameCheckpoint(t, "uninterrupted", filepath.Join(dir, "straight", "pc-H2.safetensors"), "interrupted and resumed", path)
}

// TestWorkersLinkMetrics: with workers, the coordinator's /metrics shows the link between
// them (nodes 1-2 of H = 2 on two workers), both directions, each latency at least the
// injected delay, and the bytes on the wire.
func TestWorkersLinkMetrics(t *testing.T) {
	s := pcnetStart(t, trainArgs("pc", t.TempDir(), "-epochs", "50", "-workers", "2", "-link-delay", "2ms", "-metrics-addr", "127.0.0.1:0")...)
	addr, run := metricsLine(t, s.waitFor(t, "metrics: "))
	url := "http://" + addr + "/metrics"
	value := func(body, series string) (float64, bool) {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v, true
	}
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false
		}
		// Every series carries the run label; the selectors below leave it out.
		body = strings.ReplaceAll(string(b), `,run="`+run+`"`, "")
		for _, dir := range []string{"up", "down"} {
			if n, ok := value(body, `pcnet_link_latency_seconds_count{direction="`+dir+`",link="1-2"}`); !ok || n < 10 {
				return false
			}
		}
		return true
	}, commandDeadline, 50*time.Millisecond, "no link figures on %s", url)
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	r := s.wait()
	require.Equal(t, 1, r.code, "interrupted; stderr: %s", r.stderr)

	require.NotContains(t, body, `link="0-1"`, "a link inside a worker has no wire")
	require.NotContains(t, body, `link="2-3"`)
	for _, dir := range []string{"up", "down"} {
		labels := `direction="` + dir + `",link="1-2"`
		n, _ := value(body, `pcnet_link_latency_seconds_count{`+labels+`}`)
		below, ok := value(body, `pcnet_link_latency_seconds_bucket{`+labels+`,le="0.001"}`)
		require.True(t, ok, "bucket le=0.001 of %s", labels)
		require.Zero(t, below, "%s: latencies of 1 ms or less under a 2 ms delay", labels)
		sum, _ := value(body, `pcnet_link_latency_seconds_sum{`+labels+`}`)
		require.GreaterOrEqual(t, sum, n*0.002, "%s: every latency holds the delay", labels)
		wire, _ := value(body, `pcnet_link_wire_bytes_total{`+labels+`}`)
		require.GreaterOrEqual(t, wire, 72*n, "%s: a header per message at least", labels)
	}
}

// TestWorkersLogEnergy: with -workers, -log's energy fields are the numbers one process
// logs, bit for bit (the coordinator sums each batch's F(0) and F(T) from the workers'
// node reports in node order, as a Network sums them, and the tally sums the batches in
// the same order), not null.
func TestWorkersLogEnergy(t *testing.T) {
	energies := func(t *testing.T, path string) [][2]string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var out [][2]string
		for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			var rec map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(line), &rec))
			out = append(out, [2]string{string(rec["energy_first"]), string(rec["energy_last"])})
		}
		return out
	}
	for _, tc := range []struct{ variant, precision string }{{"pc", "f64"}, {"fpa", "f32"}} {
		t.Run(tc.variant+"/"+tc.precision, func(t *testing.T) {
			dir := t.TempDir()
			logs := map[string]string{}
			for _, n := range []string{"0", "2"} {
				logs[n] = filepath.Join(dir, "run"+n+".jsonl")
				args := trainArgs(tc.variant, filepath.Join(dir, "w"+n), "-epochs", "2", "-precision", tc.precision, "-log", logs[n])
				if n != "0" {
					args = append(args, "-workers", n)
				}
				r := pcnetRun(t, args...)
				require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			}
			want, got := energies(t, logs["0"]), energies(t, logs["2"])
			require.Len(t, want, 2)
			for _, e := range want {
				require.NotEqual(t, "null", e[0], "one process logs the energy")
			}
			require.Equal(t, want, got, "-workers 2 logs the energy of one process")
		})
	}
}
