package metrics

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
)

// nopObserver makes the runtime measure everything and throws it away: the runtime's
// own cost of being observed, without this package's.
type nopObserver struct{}

func (nopObserver) Node(pcnet.NodeInfo) pcnet.NodeObserver { return nopNode{} }
func (nopObserver) Batch(pcnet.BatchStats)                 {}

type nopNode struct{}

func (nopNode) Step(pcnet.StepStats) {}
func (nopNode) End(pcnet.NodeStats)  {}

// BenchmarkPCUpdate is one FPA-PC update (Learn) of an MNIST-shaped network, H = 8 hidden
// layers of width 64, batch 64, T = H, on the parallel engine: without an observer, with
// an observer that discards everything (the runtime's cost of measuring), and with
// Metrics (what a user pays). Besides the wall time it reports the process's CPU time per
// update (cpu-ns/op). Compare with
//
//	go test -run '^$' -bench BenchmarkPCUpdate -count 10 ./metrics | benchstat -col /observer -
func BenchmarkPCUpdate(b *testing.B) {
	const h, width, batch = 8, 64, 64
	sizes := []int{784}
	for range h {
		sizes = append(sizes, width)
	}
	sizes = append(sizes, 10)
	x, labels := randomBatch(batch, sizes[0], 10, 1)
	observers := []struct {
		name string
		obs  func(b *testing.B) pcnet.Observer
	}{
		{"none", func(*testing.B) pcnet.Observer { return nil }},
		{"nop", func(*testing.B) pcnet.Observer { return nopObserver{} }},
		{"metrics", func(b *testing.B) pcnet.Observer {
			m, err := New(prometheus.NewRegistry(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
	}
	for _, o := range observers {
		b.Run("observer="+o.name, func(b *testing.B) {
			layers, err := layer.NewMLP(sizes, layer.Tanh, rand.New(rand.NewPCG(1, 0)))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			obs := o.obs(b)
			net, err := pcnet.New(ctx, layers, pcnet.Config{
				Variant: pcnet.FixedPrediction, Steps: h, Gamma: 1, Engine: pcnet.Parallel,
				MaxBatch: batch, Observer: obs,
				Optimizer: optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer net.Close()
			if _, err := net.Learn(ctx, x, labels); err != nil { // allocate the buffers
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				if _, err := net.Learn(ctx, x, labels); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time per update is the work, which other processes on a shared machine
			// disturb far less than the wall time.
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
