package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernel times the micro-kernels alone on L1-resident slivers: the ceiling that
// packing and blocking can approach.
func BenchmarkKernel(b *testing.B) {
	const kc = 256
	for _, kr := range kernels64() {
		b.Run(kr.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 3))
			a := alignedSlice[float64](kc * kr.mr)
			bb := alignedSlice[float64](kc * kr.nr)
			copy(a, randSlice[float64](rng, len(a)))
			copy(bb, randSlice[float64](rng, len(bb)))
			c := alignedSlice[float64](kr.mr * kr.nr)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for b.Loop() {
				kr.full(kc, a, bb, c, kr.nr, 1, 1)
			}
			reportCPU(b, t0, 2*float64(kr.mr*kr.nr*kc))
		})
	}
}

// reportCPU reports the thread CPU time per op since t0 and the GFLOP/s it implies.
func reportCPU(b *testing.B, t0 interface{ Nanoseconds() int64 }, flopsPerOp float64) {
	ns := float64((threadCPU().Nanoseconds() - t0.Nanoseconds())) / float64(b.N)
	b.ReportMetric(ns, "cpu-ns/op")
	b.ReportMetric(flopsPerOp/ns, "GFLOP/s(cpu)")
}
