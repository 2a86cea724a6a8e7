package gemm

// Products with a single row or column of C are matrix-vector products: every element of
// the matrix operand is used once, so packing it would cost more than it saves and the
// micro-kernel's tile would be mostly padding. They go through two vector kernels instead:
//
//	dots(k, x, b, ldb, n, out)  out[j] = Σ_p x[p] b[j*ldb+p]   (rows of b against x)
//	axpy(k, x, b, ldb, n, out)  out[j] = Σ_p x[p] b[p*ldb+j]   (x combines rows of b)

// dotsGo is the portable dots kernel.
func dotsGo[T Float](k int, x, b []T, ldb, n int, out []T) {
	x = x[:k]
	for j := range out[:n] {
		row := b[j*ldb : j*ldb+k]
		var s T
		for p, v := range x {
			s += v * row[p]
		}
		out[j] = s
	}
}

// axpyGo is the portable axpy kernel.
func axpyGo[T Float](k int, x, b []T, ldb, n int, out []T) {
	out = out[:n]
	clear(out)
	for p, v := range x[:k] {
		row := b[p*ldb : p*ldb+n]
		for j, bv := range row {
			out[j] += v * bv
		}
	}
}

// rank1Go writes c[j] = alpha*(s*b[j]) + beta*c[j] for j < n: one row of a product
// with k == 1, rounded as the micro-kernels round a one-deep tile. c is not read when
// beta is zero.
func rank1Go[T Float](n int, s T, b, c []T, alpha, beta T) {
	b, c = b[:n], c[:n]
	for j, bv := range b {
		v := alpha * (s * bv)
		if beta != 0 {
			v += beta * c[j]
		}
		c[j] = v
	}
}

// rank1 computes a product with k == 1, C = alpha op(A) op(B) + beta C, an outer product,
// row by row, and reports whether it did: it declines when a strided op(B) does not fit
// the scratch.
func (w *Workspace[T]) rank1(kr *microKernel[T], tA, tB bool, m, n int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) bool {
	row := kr.rank1
	if row == nil {
		row = rank1Go[T]
	}
	y := b[:n]
	if tB && ldb != 1 {
		if n > len(w.b) {
			return false
		}
		for j := range n {
			w.b[j] = b[j*ldb]
		}
		y = w.b[:n]
	}
	for i := range m {
		var s T
		if tA {
			s = a[i]
		} else {
			s = a[i*lda]
		}
		row(n, s, y, c[i*ldc:], alpha, beta)
	}
	return true
}

// gemv computes a product with m == 1 or n == 1 and reports whether it did: it declines
// when a strided vector operand does not fit the scratch.
func (w *Workspace[T]) gemv(kr *microKernel[T], tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) bool {
	dots, axpy := kr.dots, kr.axpy
	if dots == nil {
		dots, axpy = dotsGo[T], axpyGo[T]
	}
	// Name the vector x (length k), the matrix mat and its stride, and whether the
	// product runs along mat's rows (dots) or combines them (axpy).
	var (
		x, mat  []T
		ldm     int
		useDots bool
		rows    int // the length of the result: n when m == 1, else m
		cStride int
	)
	if m == 1 {
		x, mat, ldm, useDots, rows, cStride = a, b, ldb, tB, n, 1
		if tA && lda != 1 {
			if k > len(w.a) {
				return false
			}
			for p := range k {
				w.a[p] = a[p*lda]
			}
			x = w.a[:k]
		}
	} else {
		x, mat, ldm, useDots, rows, cStride = b, a, lda, !tA, m, ldc
		if !tB && ldb != 1 {
			if k > len(w.a) {
				return false
			}
			for p := range k {
				w.a[p] = b[p*ldb]
			}
			x = w.a[:k]
		}
	}
	for j0 := 0; j0 < rows; j0 += len(w.b) {
		nc := min(len(w.b), rows-j0)
		out := w.b[:nc]
		if useDots {
			dots(k, x, mat[j0*ldm:], ldm, nc, out)
		} else {
			axpy(k, x, mat[j0:], ldm, nc, out)
		}
		for j, v := range out {
			ci := (j0 + j) * cStride
			v *= alpha
			switch {
			case beta == 0:
			case kr.fusedMerge:
				v = fma(beta, c[ci], v)
			default:
				v += beta * c[ci]
			}
			c[ci] = v
		}
	}
	return true
}
