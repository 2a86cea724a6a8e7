package layer

import (
	"fmt"
	"github.com/pcnet/pcnet/tensor"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// availableKernels are the kernels this test binary can switch to.
func availableKernels() []Kernel {
	ks := []Kernel{KernelSIMD, KernelGonum}
	if haveOpenBLAS {
		ks = append(ks, KernelOpenBLAS)
	}
	return ks
}

// withKernel runs f with kernel k and restores the previous kernel.
func withKernel(t testing.TB, k Kernel, f func()) {
	t.Helper()
	prev, err := UseKernel(k)
	require.NoError(t, err)
	defer func() {
		_, err := UseKernel(prev)
		require.NoError(t, err)
	}()
	f()
}

// TestKernelsAgreeOnDenseProducts runs the three products of a dense layer with every
// kernel and compares them with gonum's mat.Mul, relative to the size of the summed terms.
func TestKernelsAgreeOnDenseProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	for _, s := range []struct{ batch, in, out int }{
		{1, 784, 64}, {64, 784, 64}, {64, 64, 10}, {1, 64, 10}, {13, 65, 63}, {64, 1030, 70}, {2, 1, 1},
	} {
		d, err := NewDense[float64](s.in, s.out, Identity)
		require.NoError(t, err)
		d.InitPyTorch(rng)
		v := randDense(rng, s.batch, s.in, 1)
		delta := randDense(rng, s.batch, s.out, 1)

		var wantY, wantJ, wantW mat.Dense
		wantY.Mul(gm(v), gm(d.W).T())
		wantJ.Mul(gm(delta), gm(d.W))
		wantW.Mul(gm(delta).T(), gm(v))
		for _, k := range availableKernels() {
			t.Run(fmt.Sprintf("%v/b%d/%dx%d", k, s.batch, s.in, s.out), func(t *testing.T) {
				y, jtc := tensor.New[float64](s.batch, s.out, nil), tensor.New[float64](s.batch, s.in, nil)
				g := NewGrad(d)
				withKernel(t, k, func() {
					d.Forward(y, nil, v)
					d.InputVJP(jtc, delta)
					d.WeightVJP(g.W, g.B, v, delta)
				})
				// Forward adds the bias after the product: take it off again.
				for i := range s.batch {
					for j := range s.out {
						y.Set(i, j, y.At(i, j)-d.B[j])
					}
				}
				requireClose(t, "forward", y, tm(&wantY), s.in)
				requireClose(t, "input VJP", jtc, tm(&wantJ), s.out)
				requireClose(t, "weight VJP", g.W, tm(&wantW), s.batch)
			})
		}
	}
}

// requireClose compares got with want to 1e-12 times the size of a sum of k products of
// operands of unit size.
func requireClose(t *testing.T, what string, got, want *tensor.Matrix[float64], k int) {
	t.Helper()
	r, c := want.Dims()
	tol := 1e-12 * float64(k) * 4
	for i := range r {
		for j := range c {
			require.LessOrEqual(t, math.Abs(got.At(i, j)-want.At(i, j)), tol, "%s: element (%d, %d) is %v, want %v", what, i, j, got.At(i, j), want.At(i, j))
		}
	}
}

// TestProductsAreReproducible checks that repeating a product gives the same bits with
// every kernel, which the pcnet engine's parallel-equals-sequential tests rely on.
func TestProductsAreReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 0))
	d, _ := NewDense[float64](300, 200, Tanh)
	d.InitPyTorch(rng)
	v := randDense(rng, 64, 300, 1)
	for _, k := range availableKernels() {
		withKernel(t, k, func() {
			y1, y2 := tensor.New[float64](64, 200, nil), tensor.New[float64](64, 200, nil)
			d.Forward(y1, nil, v)
			d.Forward(y2, nil, v)
			require.Equal(t, y1.Data, y2.Data, "kernel %v", k)
		})
	}
}

func TestUseKernel(t *testing.T) {
	start := CurrentKernel()
	require.Equal(t, DefaultKernel(), start, "tests start with the default kernel")

	prev, err := UseKernel(KernelGonum)
	require.NoError(t, err)
	require.Equal(t, start, prev)
	require.Equal(t, KernelGonum, CurrentKernel())

	prev, err = UseKernel(Kernel(42))
	require.ErrorContains(t, err, "unknown kernel Kernel(42)")
	require.Equal(t, KernelGonum, prev, "a refused kernel leaves the current one")
	require.Equal(t, KernelGonum, CurrentKernel())

	if !haveOpenBLAS {
		_, err = UseKernel(KernelOpenBLAS)
		require.ErrorContains(t, err, "-tags openblas")
		require.Equal(t, KernelGonum, CurrentKernel())
	}

	_, err = UseKernel(start)
	require.NoError(t, err)
	require.Equal(t, "simd", KernelSIMD.String())
	require.Equal(t, "openblas", KernelOpenBLAS.String())
}

func TestGemmPanicsOnMismatchedShapes(t *testing.T) {
	a, b, c := tensor.New[float64](2, 3, nil), tensor.New[float64](4, 5, nil), tensor.New[float64](2, 5, nil)
	for _, k := range availableKernels() {
		withKernel(t, k, func() {
			require.PanicsWithError(t, "layer: gemm: op(A) 2x3 times op(B) is 4x5, want 3x5", func() {
				gemm(false, false, 1, a, b, 0, c)
			}, "kernel %v", k)
		})
	}
}

// BenchmarkDenseProducts times the three products of a dense layer at batch 64 with every
// kernel of this binary (build with -tags openblas to include OpenBLAS).
func BenchmarkDenseProducts(b *testing.B) {
	for _, s := range []struct{ in, out int }{{784, 64}, {64, 64}, {64, 10}, {784, 1024}, {1024, 1024}, {1024, 10}} {
		const batch = 64
		rng := rand.New(rand.NewPCG(13, 0))
		d, _ := NewDense[float64](s.in, s.out, Identity)
		d.InitPyTorch(rng)
		v, delta := randDense(rng, batch, s.in, 1), randDense(rng, batch, s.out, 1)
		y, jtc, g := tensor.New[float64](batch, s.out, nil), tensor.New[float64](batch, s.in, nil), NewGrad(d)
		flops := 2 * float64(batch*s.in*s.out)
		for _, p := range []struct {
			name string
			f    func()
		}{
			{"fwd", func() { gemm(false, true, 1, v, d.W, 0, y) }},
			{"inVJP", func() { d.InputVJP(jtc, delta) }},
			{"wVJP", func() { gemm(true, false, 1, delta, v, 0, g.W) }},
		} {
			for _, k := range availableKernels() {
				b.Run(fmt.Sprintf("%s/%dx%d/%v", p.name, s.in, s.out, k), func(b *testing.B) {
					prev, err := UseKernel(k)
					require.NoError(b, err)
					defer UseKernel(prev)
					for b.Loop() {
						p.f()
					}
					b.ReportMetric(flops*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
				})
			}
		}
	}
}
