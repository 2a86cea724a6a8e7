package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are the products of one training step of pcnet's reference MLPs at batch 64
// (784-[w]xH-10, w in {64, 256, 1024}) and of the online setting (batch 1), and the square
// product 64x1024x1024 against which the kernels are judged.
var benchShapes = func() []benchShape {
	s := []benchShape{{"nn/64x1024x1024", false, false, 64, 1024, 1024}}
	for _, batch := range []int{64, 1} {
		for _, io := range [][2]int{{784, 64}, {64, 64}, {64, 10}, {784, 256}, {256, 256}, {256, 10}, {784, 1024}, {1024, 1024}, {1024, 10}} {
			in, out := io[0], io[1]
			s = append(s,
				benchShape{fmt.Sprintf("fwd/b%d/%dx%d", batch, in, out), false, true, batch, out, in},
				benchShape{fmt.Sprintf("inVJP/b%d/%dx%d", batch, in, out), false, false, batch, in, out},
				benchShape{fmt.Sprintf("wVJP/b%d/%dx%d", batch, in, out), true, false, out, in, batch},
			)
		}
	}
	return s
}()

type benchShape struct {
	name    string
	tA, tB  bool
	m, n, k int
}

// BenchmarkGemm times the products of benchShapes in each precision with each kernel,
// and in float64 with gonum. GFLOP/s is wall-clock; GFLOP/s(cpu) counts the calling
// thread's CPU time, which other processes on a shared machine disturb less, but which
// leaves out the helpers of a product cut into tiles: it is the per-core figure only at
// -cpu 1.
func BenchmarkGemm(b *testing.B) {
	b.Run("precision=f64", func(b *testing.B) {
		for _, s := range benchShapes {
			for _, kr := range append(asmKernels(), goKernel64) {
				b.Run(s.name+"/"+kr.name, func(b *testing.B) { benchGemm(b, s, kr) })
			}
			b.Run(s.name+"/gonum", func(b *testing.B) {
				p := newProblem[float64](rand.New(rand.NewPCG(1, 2)), s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0)
				benchLoop(b, s, func() { gonumTiled(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc) })
			})
		}
	})
	b.Run("precision=f32", func(b *testing.B) {
		for _, s := range benchShapes {
			for _, kr := range append(asmKernels32(), goKernel32) {
				b.Run(s.name+"/"+kr.name, func(b *testing.B) { benchGemm(b, s, kr) })
			}
		}
	})
}

func benchGemm[T Float](b *testing.B, s benchShape, kr microKernel[T]) {
	p := newProblem[T](rand.New(rand.NewPCG(1, 2)), s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0)
	w := NewWorkspace[T]()
	benchLoop(b, s, func() { w.gemm(&kr, p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc) })
}

// benchLoop runs f, one product of shape s, and reports its GFLOP/s.
func benchLoop(b *testing.B, s benchShape, f func()) {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	t0 := threadCPU()
	for b.Loop() {
		f()
	}
	reportCPU(b, t0, flops)
	b.ReportMetric(flops*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}

// gonumTiled is gonum's Dgemm cut into 64x192 tiles of C, as package layer calls it (its
// KernelGonum), so that every tile runs on the calling goroutine.
func gonumTiled(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	const tileRows, tileCols = 64, 192
	var impl gonum.Implementation
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	for i := 0; i < m; i += tileRows {
		mt := min(tileRows, m-i)
		var ai []float64
		if tA {
			ai = a[i:]
		} else {
			ai = a[i*lda:]
		}
		for j := 0; j < n; j += tileCols {
			nt := min(tileCols, n-j)
			var bj []float64
			if tB {
				bj = b[j*ldb:]
			} else {
				bj = b[j:]
			}
			impl.Dgemm(ta, tb, mt, nt, k, alpha, ai, lda, bj, ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}

// BenchmarkDepth tries depths kc of the k blocks on the products of pcnet at batch 64.
func BenchmarkDepth(b *testing.B) {
	defer func(kc int) { kcMax = kc }(kcMax)
	for _, kc := range []int{128, 192, 256, 384, 512} {
		for _, s := range benchShapes {
			if s.m == 1 || s.n == 1 {
				continue
			}
			p := newProblem[float64](rand.New(rand.NewPCG(1, 2)), s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0)
			for _, kr := range asmKernels() {
				b.Run(fmt.Sprintf("%s/kc%d/%s", s.name, kc, kr.name), func(b *testing.B) {
					kcMax = kc
					w := NewWorkspace[float64]()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					t0 := threadCPU()
					for b.Loop() {
						w.gemm(&kr, p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
					}
					reportCPU(b, t0, 2*float64(s.m*s.n*s.k))
				})
			}
		}
	}
}

// BenchmarkShareA pairs tiling's grids for products whose op(A) is packed once for all
// the tiles (cut over columns only) with the grids of before (rows cut too): the weight
// VJPs of a batch of 64 (deltaᵀ v: 1024x784x64, 1024x1024x64, where the old grid packs
// both operands once per row or column of tiles) and the forward product and input VJP
// (64x1024x1024 and 64x1024x784, whose rows are too few to cut: the same grid). The two run alternately in one loop, so that a
// shared host's drift falls on both, each first every other time. new/old is the median
// ratio of their times, cpu-new/old that of the process's CPU time (every thread); at
// -cpu 1 neither is cut. Both give the same bits (TestTiledBitIdentical).
func BenchmarkShareA(b *testing.B) {
	for _, s := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"wVJP/b64/784x1024", true, false, 1024, 784, 64},
		{"wVJP/b64/1024x1024", true, false, 1024, 1024, 64},
		{"fwd/b64/1024x1024", false, true, 64, 1024, 1024},
		{"inVJP/b64/784x1024", false, false, 64, 784, 1024},
	} {
		b.Run("precision=f32/"+s.name, func(b *testing.B) { benchShareA[float32](b, s.tA, s.tB, s.m, s.n, s.k) })
		b.Run("precision=f64/"+s.name, func(b *testing.B) { benchShareA[float64](b, s.tA, s.tB, s.m, s.n, s.k) })
	}
}

func benchShareA[T Float](b *testing.B, tA, tB bool, m, n, k int) {
	defer func() { shareA = true }()
	p := newProblem[T](rand.New(rand.NewPCG(1, 2)), tA, tB, m, n, k, 0, 1, 0)
	w := NewWorkspace[T]()
	var wall, cpu []float64
	for i := 0; b.Loop(); i++ {
		var d, c [2]time.Duration
		for o := range 2 {
			v := o ^ i&1 // which runs first alternates: the second finds the caches warmer
			shareA = v == 1
			t0, c0 := time.Now(), processCPU()
			w.Gemm(p.tA, p.tB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
			d[v], c[v] = time.Since(t0), processCPU()-c0
		}
		wall = append(wall, float64(d[1])/float64(d[0]))
		cpu = append(cpu, float64(c[1])/float64(c[0]))
	}
	b.ReportMetric(median(wall), "new/old")
	b.ReportMetric(median(cpu), "cpu-new/old")
}

// median is the median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
