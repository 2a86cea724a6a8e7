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

// BenchmarkVector times the float32 vector kernels through Gemm at batch 1: a 1x1024 row
// against a 1024x1024 matrix (dots when B is transposed, axpy when not) and the rank-1
// update of a 1024x1024 C (k = 1), then 1x256 by 256x256, where the matrix fits in L2, and
// a 64x256 rank-1 update. It
// runs each assembly kernel of this machine, the Go kernels that run without them (go),
// and the assembly's Go twins (twin, with emulated FMAs: a reference, not a fallback).
// alpha is 1 and beta 0, as in benchGemm.
func BenchmarkVector(b *testing.B) {
	shapes := []benchShape{
		{"dots/1x1024x1024", false, true, 1, 1024, 1024},
		{"axpy/1x1024x1024", false, false, 1, 1024, 1024},
		{"rank1/1024x1024x1", false, false, 1024, 1024, 1},
		{"dots/1x256x256", false, true, 1, 256, 256},
		{"axpy/1x256x256", false, false, 1, 256, 256},
		{"rank1/64x256x1", false, false, 64, 256, 1},
	}
	asm := asmKernels32()
	if len(asm) == 0 {
		b.Skip("no assembly kernel on this machine")
	}
	type variant struct {
		name string
		kr   microKernel[float32]
	}
	var vs []variant
	for _, kr := range asm {
		vs = append(vs, variant{kr.name, kr})
	}
	goKr, twin := asm[0], twinOf(asm[0])
	goKr.dots, goKr.axpy, goKr.rank1 = nil, nil, nil
	twin.full = asm[0].full
	vs = append(vs, variant{"go", goKr}, variant{"twin", twin})
	for _, s := range shapes {
		for _, v := range vs {
			b.Run(s.name+"/"+v.name, func(b *testing.B) { benchGemm(b, s, v.kr) })
		}
	}
}
