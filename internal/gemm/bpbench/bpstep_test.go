package bpbench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// nets are the MLPs 784-[width]xhidden-10 of the PyTorch reference timings.
var nets = []struct{ width, hidden int }{{64, 2}, {64, 8}, {1024, 8}}

// kernels are the product kernels this binary can run.
func kernels() []layer.Kernel {
	ks := []layer.Kernel{layer.KernelSIMD, layer.KernelGonum}
	prev, err := layer.UseKernel(layer.KernelOpenBLAS)
	if err == nil {
		ks = append(ks, layer.KernelOpenBLAS)
		if _, err := layer.UseKernel(prev); err != nil {
			panic(err)
		}
	}
	return ks
}

// newStep builds a BP learner on the tanh MLP 784-[width]xhidden-10 with SGD (lr 0.001,
// momentum 0.9), as the PyTorch reference does, and a fixed batch.
func newStep(tb testing.TB, width, hidden, batch int) (step func()) {
	tb.Helper()
	h := make([]int, hidden)
	for i := range h {
		h[i] = width
	}
	layers, err := layer.NewMLP[float64](layer.Sizes(784, h, 10), layer.Tanh, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		tb.Fatal(err)
	}
	bp, err := train.NewBP(layers, layer.NLL{}, optim.Config{Kind: optim.SGD, LR: 0.001, Momentum: 0.9})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 0))
	x := tensor.New[float64](batch, 784, nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	ctx := context.Background()
	return func() {
		if _, err := bp.Step(ctx, x, labels); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkBPStep times a training step (forward, backward, SGD) at batch 64, and at
// batch 1 for the online setting. cpu-ns/op is the thread's CPU time, which other
// processes on a shared machine disturb less than ns/op. Run with -cpu 1.
func BenchmarkBPStep(b *testing.B) {
	for _, batch := range []int{64, 1} {
		for _, net := range nets {
			for _, k := range kernels() {
				name := fmt.Sprintf("784-[%d]x%d-10/b%d/%v", net.width, net.hidden, batch, k)
				b.Run(name, func(b *testing.B) {
					prev, err := layer.UseKernel(k)
					if err != nil {
						b.Fatal(err)
					}
					defer layer.UseKernel(prev)
					step := newStep(b, net.width, net.hidden, batch)
					step()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					b.ReportAllocs()
					t0 := threadCPU()
					for b.Loop() {
						step()
					}
					b.ReportMetric(float64((threadCPU()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}
