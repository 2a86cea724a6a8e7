package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernel times the micro-kernels alone on L1-resident slivers: the ceiling that
// packing and blocking can approach.
func BenchmarkKernel(b *testing.B) {
	b.Run("precision=f64", func(b *testing.B) {
		for _, kr := range kernels64() {
			b.Run(kr.name, func(b *testing.B) { benchKernel(b, kr) })
		}
	})
	b.Run("precision=f32", func(b *testing.B) {
		for _, kr := range kernels32() {
			b.Run(kr.name, func(b *testing.B) { benchKernel(b, kr) })
		}
	})
}

func benchKernel[T Float](b *testing.B, kr microKernel[T]) {
	const kc = 256
	rng := rand.New(rand.NewPCG(1, 3))
	a := alignedSlice[T](kc * kr.mr)
	bb := alignedSlice[T](kc * kr.nr)
	copy(a, randSlice[T](rng, len(a)))
	copy(bb, randSlice[T](rng, len(bb)))
	c := alignedSlice[T](kr.mr * kr.nr)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for b.Loop() {
		kr.full(kc, a, bb, c, kr.nr, 1, 1)
	}
	reportCPU(b, t0, 2*float64(kr.mr*kr.nr*kc))
}

// BenchmarkFMAPeak measures the FMA throughput of one core in each precision and vector
// width: twelve independent FMA chains on registers, nothing loaded (asmgen's peak loops).
// A kernel's GFLOP/s(cpu) divided by this is its fraction of the core's peak.
func BenchmarkFMAPeak(b *testing.B) {
	const iters = 1 << 12
	for _, p := range peakLoops() {
		b.Run("precision="+p.precision+"/"+p.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for b.Loop() {
				p.run(iters)
			}
			reportCPU(b, t0, float64(p.flops*iters))
		})
	}
}

// reportCPU reports the thread CPU time per op since t0 and the GFLOP/s it implies.
func reportCPU(b *testing.B, t0 interface{ Nanoseconds() int64 }, flopsPerOp float64) {
	ns := float64((threadCPU().Nanoseconds() - t0.Nanoseconds())) / float64(b.N)
	b.ReportMetric(ns, "cpu-ns/op")
	b.ReportMetric(flopsPerOp/ns, "GFLOP/s(cpu)")
}
