package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/cluster"
	"github.com/pcnet/pcnet/internal/testdeadline"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// lookTool finds a Prometheus binary, or skips the test saying how to install it; under
// CI=true a missing binary fails the test instead.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found on PATH (%v): install it with `apt-get install -y prometheus` (Debian/Ubuntu; it brings prometheus and promtool)", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this fails rather than skips")
	}
	t.Skip(msg)
	return ""
}

// TestPrometheus runs a real Prometheus against a training run: it scrapes the run, the
// exposition passes promtool, and every expression of the Grafana dashboard parses and
// returns data.
func TestPrometheus(t *testing.T) {
	promBin, promtool := lookTool(t, "prometheus"), lookTool(t, "promtool")

	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{MaxStep: 8, Run: dashboardRun})
	require.NoError(t, err)
	srv, err := Serve(context.Background(), "127.0.0.1:0", reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })

	// Train for as long as the test runs, so that every rate window sees increases.
	ctx, stop := context.WithCancel(context.Background())
	trained := make(chan error, 1)
	go func() { trained <- trainForever(ctx, m) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-trained)
	})

	api := startPrometheus(t, promBin, srv.Addr().String())
	waitForScrapes(t, api, 3)

	t.Run("promtool check metrics", func(t *testing.T) {
		_, body := get(t, "GET", "http://"+srv.Addr().String()+"/metrics")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics:\n%s", out)
	})

	t.Run("promtool check config", func(t *testing.T) {
		out, err := exec.Command(promtool, "check", "config", "../grafana/prometheus.yml").CombinedOutput()
		require.NoError(t, err, "promtool check config grafana/prometheus.yml:\n%s", out)
	})

	t.Run("dashboard queries", func(t *testing.T) {
		exprs := dashboardExprs(t)
		require.NotEmpty(t, exprs)
		for _, expr := range exprs {
			q := concreteExpr(t, expr)
			res := query(t, api, q)
			require.NotEmpty(t, res, "no data for\n%s", q)
			finite := false
			for _, s := range res {
				finite = finite || !math.IsNaN(s.value) && !math.IsInf(s.value, 0)
			}
			require.True(t, finite, "only NaN or infinite values for\n%s\n%v", q, res)
		}
	})

	t.Run("dashboard variables", func(t *testing.T) {
		for _, lv := range [][2]string{{"variant", "pcnet_inferences_total"}, {"job", "pcnet_train_epoch"}, {"run", "pcnet_train_epoch"}} {
			var values []string
			apiGet(t, api, "/api/v1/label/"+lv[0]+"/values?"+url.Values{"match[]": {lv[1]}}.Encode(), &values)
			require.NotEmpty(t, values, "label_values(%s, %s)", lv[1], lv[0])
		}
	})

	// Theorem 1, end to end: in what Prometheus stored, every observation of distance d
	// lies in bucket le=d and none below.
	t.Run("theorem 1 in prometheus", func(t *testing.T) {
		res := query(t, api, `sum by (variant, distance, le) (pcnet_error_first_nonzero_step_bucket)`)
		count := map[string]float64{}
		for _, s := range res {
			if s.labels["le"] == "+Inf" {
				count[s.labels["variant"]+"/"+s.labels["distance"]] = s.value
			}
		}
		checked := 0
		for _, s := range res {
			d, err := strconv.Atoi(s.labels["distance"])
			require.NoError(t, err)
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			require.NoError(t, err)
			key := s.labels["variant"] + "/" + s.labels["distance"]
			require.Positive(t, count[key], "%s observed", key)
			if le < float64(d) {
				require.Zero(t, s.value, "%s: bucket le=%v below the distance", key, le)
			} else {
				require.Equal(t, count[key], s.value, "%s: bucket le=%v", key, le)
			}
			checked++
		}
		require.Positive(t, checked)
	})
}

// trainForever trains an FPA-PC and a standard PC network on synthetic data, batch after
// batch and epoch after epoch, reporting to m as a trainer would, until ctx is done; and
// an FPA-PC network whose nodes live in three workers (goroutines over NATS), whose links
// feed the link series.
func trainForever(ctx context.Context, m *Metrics) (err error) {
	const batch, dim, classes = 16, 20, 4
	data := mnist.SyntheticSplits(256, 64, 64, dim, classes, 7)
	sizes := []int{dim, 12, 12, 12, classes}
	type learner struct {
		v   pcnet.Variant
		net *pcnet.Network[float64]
		bp  *backprop.Net[float64]
		g   []*layer.Grad[float64]
	}
	var ls []*learner
	defer func() {
		for _, l := range ls {
			l.net.Close()
		}
	}()
	for i, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard} {
		layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(uint64(i), 3)))
		if err != nil {
			return err
		}
		spec := netSpec{variant: v, engine: pcnet.Parallel, sizes: sizes, steps: 4, batch: batch}
		net, err := pcnet.New(ctx, layers, spec.config(m))
		if err != nil {
			return err
		}
		bp, err := backprop.New(layers, layer.NLL{})
		if err != nil {
			return err
		}
		l := &learner{v: v, net: net, bp: bp}
		for _, d := range layers {
			l.g = append(l.g, layer.NewGrad(d))
		}
		ls = append(ls, l)
	}
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(9, 3)))
	if err != nil {
		return err
	}
	spec := netSpec{variant: pcnet.FixedPrediction, engine: pcnet.Parallel, sizes: sizes, steps: 4, batch: batch}
	workers, stop, err := startWorkers(ctx, m, []cluster.Range{{Lo: 0, Hi: 1}, {Lo: 2, Hi: 3}, {Lo: 4, Hi: 4}}, 0, layers, spec.config(m))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	loader, err := mnist.NewLoader(data.Train, batch, true, 1)
	if err != nil {
		return err
	}
	for epoch := 0; ; epoch++ {
		loader.SetEpoch(epoch)
		var lossSum float64
		for b := range loader.NumBatches() {
			x, labels := loader.Batch(b)
			for _, l := range ls {
				if b%4 == 0 {
					// BP's gradient at the weights the update is computed at.
					l.bp.Gradients(l.g, x, labels)
				}
				bctx, cancel := context.WithTimeout(ctx, testdeadline.Batch) // a deadlock fails, not stalls
				loss, err := l.net.Learn(bctx, x, labels)
				cancel()
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
				lossSum += loss
				if b%4 == 0 {
					if err := reportCosines(m, l.v, l.net.Updates(), l.g); err != nil {
						return err
					}
				}
			}
			if _, err := workers.Step(ctx, x, labels); ctx.Err() != nil {
				return nil
			} else if err != nil {
				return err
			}
			rows, _ := x.Dims()
			if err := m.AddSamples(rows); err != nil {
				return err
			}
			if err := m.SetLoss(SplitTrain, lossSum/float64(len(ls)*(b+1))); err != nil {
				return err
			}
			// Leave the CPU to Prometheus now and then: the test machine is small.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Millisecond):
			}
		}
		for _, split := range []*mnist.Dataset{data.Validation, data.Test} {
			name := SplitValidation
			if split == data.Test {
				name = SplitTest
			}
			loss, correct := ls[0].bp.Evaluate(split.Rows(0, split.Len(), nil), split.Labels, 64)
			if err := m.SetLoss(name, loss); err != nil {
				return err
			}
			if err := m.SetAccuracy(name, float64(correct)/float64(split.Len())); err != nil {
				return err
			}
		}
		m.SetEpoch(epoch + 1)
	}
}

// reportCosines records the cosine of PC's updates to BP's (minus its gradients) and the
// ratio of their norms, per layer and over all layers.
func reportCosines(m *Metrics, v pcnet.Variant, pc, grads []*layer.Grad[float64]) error {
	var dotAll, ppAll, ggAll float64
	for l := range pc {
		var dot, pp, gg float64
		p, g := pc[l].Params(), grads[l].Params()
		for i := range p {
			for j := range p[i] {
				dot -= p[i][j] * g[i][j]
				pp += p[i][j] * p[i][j]
				gg += g[i][j] * g[i][j]
			}
		}
		if err := m.SetCosine(v, l, clampCosine(dot/math.Sqrt(pp*gg))); err != nil {
			return err
		}
		if err := m.SetNormRatio(v, l, math.Sqrt(pp/gg)); err != nil {
			return err
		}
		dotAll, ppAll, ggAll = dotAll+dot, ppAll+pp, ggAll+gg
	}
	if err := m.SetNormRatio(v, AllLayers, math.Sqrt(ppAll/ggAll)); err != nil {
		return err
	}
	return m.SetCosine(v, AllLayers, clampCosine(dotAll/math.Sqrt(ppAll*ggAll)))
}

func clampCosine(c float64) float64 { return math.Max(-1, math.Min(1, c)) }

// startPrometheus runs Prometheus on a free loopback port, scraping target every second,
// and returns its base URL. It stops with the test.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pcnet
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	addr := freeLoopbackAddr(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", out)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus on %s not ready after 30 s (last error %v); log:\n%s", addr, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// waitForScrapes waits until Prometheus has scraped the pcnet job successfully n times.
func waitForScrapes(t *testing.T, api string, n int) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	q := `sum_over_time(up{job="pcnet"}[10m])`
	for {
		res := query(t, api, q)
		if len(res) == 1 && res[0].value >= float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape pcnet successfully %d times in 40 s: %s = %v", n, q, res)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sample is one element of an instant query's result.
type sample struct {
	labels map[string]string
	value  float64
}

// query runs an instant query and returns its samples (a scalar is one sample without
// labels); any error, a parse error included, fails the test.
func query(t *testing.T, api, q string) []sample {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	apiGet(t, api, "/api/v1/query?"+url.Values{"query": {q}}.Encode(), &data)
	parse := func(pair []any) float64 {
		require.Len(t, pair, 2)
		v, err := strconv.ParseFloat(pair[1].(string), 64)
		require.NoError(t, err)
		return v
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		require.NoError(t, json.Unmarshal(data.Result, &vec))
		out := make([]sample, len(vec))
		for i, s := range vec {
			out[i] = sample{labels: s.Metric, value: parse(s.Value)}
		}
		return out
	case "scalar":
		var pair []any
		require.NoError(t, json.Unmarshal(data.Result, &pair))
		return []sample{{value: parse(pair)}}
	}
	t.Fatalf("query %q: unexpected result type %q", q, data.ResultType)
	return nil
}

// apiGet calls the Prometheus HTTP API and decodes the data of a successful answer.
func apiGet(t *testing.T, api, path string, data any) {
	t.Helper()
	code, body := get(t, "GET", api+path)
	var resp struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	require.NoError(t, json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&resp), "GET %s: %s", path, body)
	require.Equal(t, "success", resp.Status, "GET %s (HTTP %d): %s: %s", path, code, resp.ErrorType, resp.Error)
	require.NoError(t, json.Unmarshal(resp.Data, data))
}
