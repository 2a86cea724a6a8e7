package gemm

// goKernel64 and goKernel32 are the portable micro-kernels: a 4x4 tile in sixteen scalar
// accumulators, multiplying and adding with two roundings (the Go compiler may fuse them
// on some architectures; the tests allow for either).
var (
	goKernel64 = microKernel[float64]{name: "go-4x4", mr: 4, nr: 4, full: kernel4x4Go[float64]}
	goKernel32 = microKernel[float32]{name: "go-4x4-f32", mr: 4, nr: 4, full: kernel4x4Go[float32]}
)

func kernel4x4Go[T Float](kc int, a, b []T, c []T, ldc int, alpha, beta T) {
	var (
		c00, c01, c02, c03 T
		c10, c11, c12, c13 T
		c20, c21, c22, c23 T
		c30, c31, c32, c33 T
	)
	a = a[:4*kc]
	b = b[:4*kc]
	for p := 0; p+4 <= len(a); p += 4 {
		av := a[p : p+4 : p+4]
		bv := b[p : p+4 : p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow4(c[0:4:4], c00, c01, c02, c03, alpha, beta)
	storeRow4(c[ldc:ldc+4:ldc+4], c10, c11, c12, c13, alpha, beta)
	storeRow4(c[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	storeRow4(c[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

func storeRow4[T Float](c []T, v0, v1, v2, v3, alpha, beta T) {
	v0, v1, v2, v3 = alpha*v0, alpha*v1, alpha*v2, alpha*v3
	if beta != 0 {
		v0 += beta * c[0]
		v1 += beta * c[1]
		v2 += beta * c[2]
		v3 += beta * c[3]
	}
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}

// twinKernel is the Go twin of an assembly micro-kernel of mr x nr: the same loop as the
// generated code (./asmgen), in the same order, with the same roundings. The accumulators
// start at zero and take one FMA per p, acc[i][j] = a[p][i]*b[p][j] + acc[i][j]; the tile is
// then multiplied by alpha and, unless beta is zero, C is merged with one more FMA,
// beta*c + alpha*acc. Its results are therefore those of the assembly bit for bit, which
// the tests check. It is far slower (vmath.FMA32 is emulated), so it is compiled in every build
// but runs only in tests: the assembly's reference on amd64, and one more kernel to test
// the blocking with under the purego tag and elsewhere.
func twinKernel[T Float](name string, mr, nr int) microKernel[T] {
	full := func(kc int, a, b, c []T, ldc int, alpha, beta T) {
		var acc [maxTile]T
		a, b = a[:kc*mr], b[:kc*nr]
		for p := range kc {
			ap, bp := a[p*mr:p*mr+mr], b[p*nr:p*nr+nr]
			for i, av := range ap {
				row := acc[i*nr : i*nr+nr]
				for j, bv := range bp {
					row[j] = fma(av, bv, row[j])
				}
			}
		}
		for i := range mr {
			ci := c[i*ldc : i*ldc+nr]
			for j, v := range acc[i*nr : i*nr+nr] {
				v *= alpha
				if beta != 0 {
					v = fma(beta, ci[j], v)
				}
				ci[j] = v
			}
		}
	}
	return microKernel[T]{name: name + "-twin", mr: mr, nr: nr, fusedMerge: true, full: full}
}

// twinKernels are the Go twins of the assembly kernels of both precisions, on any machine.
var (
	twins64 = []microKernel[float64]{twinKernel[float64]("avx2-6x8", 6, 8), twinKernel[float64]("avx512-8x16", 8, 16)}
	twins32 = []microKernel[float32]{twinKernel[float32]("avx2-6x16-f32", 6, 16), twinKernel[float32]("avx512-8x32-f32", 8, 32)}
)
