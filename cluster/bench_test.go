package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/internal/pairbench"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// benchNet is a network of h hidden nodes of the given width on MNIST's shapes, with
// one batch of 64.
func benchNet(b *testing.B, h, width int) ([]*layer.Dense[float64], *tensor.Matrix[float64], []int) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{784}
	for range h {
		sizes = append(sizes, width)
	}
	sizes = append(sizes, 10)
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	require.NoError(b, err)
	x := tensor.New[float64](64, 784, nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	labels := make([]int, 64)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	return layers, x, labels
}

var benchSGD = optim.Config{Kind: optim.SGD, LR: 1e-3}

// benchCluster serves the ranges by workers in this process, each on a connection of
// its own to an embedded server, and returns their coordinator; the cleanup stops all.
func benchCluster(b *testing.B, ranges []Range, delay time.Duration, layers []*layer.Dense[float64], cfg pcnet.Config) *Coordinator[float64] {
	srv, err := natsconn.Server{}.Start(context.Background())
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	for _, r := range ranges {
		nc, err := natsconn.DialEmbedded(ctx, srv, r.String())
		require.NoError(b, err)
		d := make(chan error, 1)
		go func() {
			d <- Serve(ctx, WorkerOptions{Conn: nc, Key: testKey, Run: "bench", Nodes: r, Timeout: time.Minute})
			nc.Close()
		}()
		done = append(done, d)
	}
	nc, err := natsconn.DialEmbedded(ctx, srv, "coordinator")
	require.NoError(b, err)
	co, err := NewCoordinator(ctx, Options{Conn: nc, Key: testKey, Run: "bench", Workers: ranges, Timeout: time.Minute, Delay: delay}, layers, cfg)
	require.NoError(b, err)
	b.Cleanup(func() {
		co.Close()
		for _, d := range done {
			<-d
		}
		cancel()
		nc.Close()
		srv.Shutdown()
	})
	return co
}

// BenchmarkSplitUpdate: one standard-PC update (T = H = 8, batch 64) in one process
// (the parallel engine) and split over two workers linked over NATS on loopback (the
// workers are goroutines of this process, each on a connection of its own; the
// coordinator sends the batch and gathers the report over NATS too).
func BenchmarkSplitUpdate(b *testing.B) {
	const h = 8
	for _, width := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("width=%d/in-process", width), func(b *testing.B) {
			timeSteps(b, inProcessUpdate(b, h, width))
		})
		b.Run(fmt.Sprintf("width=%d/workers=2", width), func(b *testing.B) {
			timeSteps(b, splitUpdate(b, h, width))
		})
	}
}

// splitConfig is the update both ways of BenchmarkSplitUpdate make.
func splitConfig(h int) pcnet.Config {
	return pcnet.Config{Variant: pcnet.Standard, Steps: h, Gamma: 0.1, MaxBatch: 64, Optimizer: benchSGD}
}

// inProcessUpdate returns one update of the benchmark network by the parallel engine in
// this process, closed when the benchmark ends.
func inProcessUpdate(b *testing.B, h, width int) func() {
	layers, x, labels := benchNet(b, h, width)
	net, err := pcnet.New(context.Background(), layers, splitConfig(h))
	require.NoError(b, err)
	b.Cleanup(func() { net.Close() })
	return func() {
		if _, err := net.Learn(context.Background(), x, labels); err != nil {
			b.Fatal(err)
		}
	}
}

// splitUpdate returns one update of the benchmark network by two workers.
func splitUpdate(b *testing.B, h, width int) func() {
	layers, x, labels := benchNet(b, h, width)
	ranges, err := Split(h+2, 2)
	require.NoError(b, err)
	co := benchCluster(b, ranges, 0, layers, splitConfig(h))
	return func() {
		if _, err := co.Step(context.Background(), x, labels); err != nil {
			b.Fatal(err)
		}
	}
}

// timeSteps times step b.N times after two warm-up calls.
func timeSteps(b *testing.B, step func()) {
	for range 2 {
		step()
	}
	b.ResetTimer()
	for range b.N {
		step()
	}
}

// BenchmarkSplitUpdatePaired is BenchmarkSplitUpdate's comparison made in one loop: the
// in-process update and the update over two workers alternate in blocks of two, in
// alternating order, so that a host whose speed drifts slows both alike (two separate
// benchmarks run minutes apart). Reported: each one's time per update and their ratio.
func BenchmarkSplitUpdatePaired(b *testing.B) {
	const h, block = 8, 2
	for _, width := range []int{256, 1024} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			local, split := inProcessUpdate(b, h, width), splitUpdate(b, h, width)
			for range 2 {
				local()
				split()
			}
			tLocal, tSplit := pairbench.Run(b, block, local, split)
			b.ReportMetric(float64(tLocal.Nanoseconds()), "in-process-ns/op")
			b.ReportMetric(float64(tSplit.Nanoseconds()), "workers-ns/op")
			b.ReportMetric(float64(tSplit)/float64(tLocal), "workers/in-process")
		})
	}
}

// sequentialHops is the model of the hops one update must wait for one after another
// when every node is a process of its own and computing takes no time (T = H):
//
//	BP:           a forward and a backward wave, 2(H+1);
//	FPA-PC:       the feed-forward wave, then the errors down: node l's step t needs
//	              e_{l+1}(t), formed from node l+1's step t-1, so the error of the top
//	              reaches node 0 H+1 hops later: 2(H+1), BP's count;
//	PC, Z-IL, iPC: the feed-forward wave, then every step a round trip at the top (the
//	              new prediction up, the error it makes down) and the last error:
//	              (H+1) + 2T + 1.
func sequentialHops(v string, h, steps int) int {
	switch v {
	case "bp", "fpa":
		return 2 * (h + 1)
	}
	return h + 1 + 2*steps + 1
}

// BenchmarkHopLatency: the update time of each PC variant (H = 4, width 64, T = H,
// batch 64) with every node in a worker of its own, against a delay added to every hop
// (0, 100 µs, 1 ms), next to the modelled sequential hops (metric model-hops).
// (t(d) - t(0)) / d estimates the hops the update waited for.
func BenchmarkHopLatency(b *testing.B) {
	const h = 4
	ranges, err := Split(h+2, h+2)
	require.NoError(b, err)
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.ZeroDivergence, pcnet.Incremental} {
		for _, delay := range []time.Duration{0, 100 * time.Microsecond, time.Millisecond} {
			b.Run(fmt.Sprintf("%v/delay=%v", v, delay), func(b *testing.B) {
				layers, x, labels := benchNet(b, h, 64)
				cfg := pcnet.Config{Variant: v, Steps: h, Gamma: 1, MaxBatch: 64, Optimizer: benchSGD}
				co := benchCluster(b, ranges, delay, layers, cfg)
				for range 2 {
					_, err = co.Step(context.Background(), x, labels)
					require.NoError(b, err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := co.Step(context.Background(), x, labels); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(sequentialHops(v.String(), h, h)), "model-hops")
			})
		}
	}
}
