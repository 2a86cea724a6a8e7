package metrics

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcnet/pcnet/tensor"

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

// BenchmarkObserverOverhead measures what watching costs: one PC update (Learn) of an
// MNIST-shaped network, H = 8 hidden layers of width 64, batch 64, T = H, on the parallel
// engine (FPA-PC with gamma 1 and standard PC with gamma 0.1), on two copies of the network, one unobserved and one with the observer, timed
// back to back in alternating order so that the drift of a shared host falls on both.
// The observers are nop (the runtime measures everything and throws it away: its own cost
// of being observed) and metrics (what a user pays). Reported: overhead-% (wall time of the
// observed update over the unobserved one, minus 1) and cpu-overhead-% (the same with the
// process's CPU time, which other processes disturb less). Run
//
//	go test -run '^$' -bench ObserverOverhead -count 10 ./metrics | benchstat -col /observer -
func BenchmarkObserverOverhead(b *testing.B) {
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
		{"nop", func(*testing.B) pcnet.Observer { return nopObserver{} }},
		{"metrics", func(b *testing.B) pcnet.Observer {
			m, err := New(prometheus.NewRegistry(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
	}
	variants := []struct {
		v     pcnet.Variant
		gamma float64
	}{{pcnet.FixedPrediction, 1}, {pcnet.Standard, 0.1}}
	for _, v := range variants {
		for _, o := range observers {
			b.Run("variant="+v.v.String()+"/observer="+o.name, func(b *testing.B) {
				benchObserverOverhead(b, sizes, x, labels, v.v, v.gamma, o.obs(b))
			})
		}
	}
}

func benchObserverOverhead(b *testing.B, sizes []int, x *tensor.Matrix[float64], labels []int, v pcnet.Variant, gamma float64, obs pcnet.Observer) {
	h, batch := len(sizes)-2, len(labels)
	ctx := context.Background()
	var nets [2]*pcnet.Network[float64] // unobserved, observed
	for i, obs := range []pcnet.Observer{nil, obs} {
		layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(1, 0)))
		if err != nil {
			b.Fatal(err)
		}
		net, err := pcnet.New(ctx, layers, pcnet.Config{
			Variant: v, Steps: h, Gamma: gamma, Engine: pcnet.Parallel,
			MaxBatch: batch, Observer: obs,
			Optimizer: optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9},
		})
		if err != nil {
			b.Fatal(err)
		}
		defer net.Close()
		nets[i] = net
	}
	var wall, cpu [2]time.Duration
	learn := func(i int) {
		c0, _ := processCPU()
		t0 := time.Now()
		_, err := nets[i].Learn(ctx, x, labels)
		wall[i] += time.Since(t0)
		c1, _ := processCPU()
		cpu[i] += c1 - c0
		if err != nil {
			b.Fatal(err)
		}
	}
	learn(0) // allocate the buffers
	learn(1)
	wall, cpu = [2]time.Duration{}, [2]time.Duration{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		learn(i % 2)
		learn(1 - i%2)
	}
	b.StopTimer()
	b.ReportMetric(100*(wall[1].Seconds()/wall[0].Seconds()-1), "overhead-%")
	if _, ok := processCPU(); ok {
		b.ReportMetric(100*(cpu[1].Seconds()/cpu[0].Seconds()-1), "cpu-overhead-%")
	}
}
