package gemm

// goKernel is the portable micro-kernel: a 4x4 tile in sixteen scalar accumulators.
var goKernel = microKernel{name: "go-4x4", mr: 4, nr: 4, full: kernel4x4Go}

func kernel4x4Go(kc int, a, b []float64, c []float64, ldc int, alpha, beta float64) {
	var (
		c00, c01, c02, c03 float64
		c10, c11, c12, c13 float64
		c20, c21, c22, c23 float64
		c30, c31, c32, c33 float64
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

func storeRow4(c []float64, v0, v1, v2, v3, alpha, beta float64) {
	v0, v1, v2, v3 = alpha*v0, alpha*v1, alpha*v2, alpha*v3
	if beta != 0 {
		v0 += beta * c[0]
		v1 += beta * c[1]
		v2 += beta * c[2]
		v3 += beta * c[3]
	}
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}
