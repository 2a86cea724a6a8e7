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

// dotsTwin, axpyTwin and rank1Twin are the Go twins of the assembly vector kernels
// (gemv_amd64.s, gemv32_amd64.s): the same sums in the same order with the same FMAs, so
// the same bits, which the tests check. Like twinKernel they are compiled in every build
// but run only in tests (fma is emulated in float32). The Go kernels above round products
// and sums apart and sum in another order, so they agree with these only to rounding.
//
// dotsTwin(lanes) sums each row in two vectors of lanes accumulators, the even and the odd
// blocks of lanes p, over the first k&^(2*lanes-1) p; adds the two vectors; folds the
// result in halves (lane i takes lane i+w/2, for w = lanes, lanes/2, ..., 2); and adds the
// remaining p one FMA each.
func dotsTwin[T Float](lanes int) func(k int, x, b []T, ldb, n int, out []T) {
	return func(k int, x, b []T, ldb, n int, out []T) {
		var accs [2 * 16]T
		even, odd := accs[:lanes], accs[lanes:2*lanes]
		x = x[:k]
		body := k &^ (2*lanes - 1)
		for j := range out[:n] {
			row := b[j*ldb : j*ldb+k]
			clear(accs[:])
			for p0 := 0; p0 < body; p0 += 2 * lanes {
				for l := range lanes {
					even[l] = fma(x[p0+l], row[p0+l], even[l])
					odd[l] = fma(x[p0+lanes+l], row[p0+lanes+l], odd[l])
				}
			}
			for l := range lanes {
				even[l] += odd[l]
			}
			for w := lanes; w > 1; w /= 2 {
				for l := range w / 2 {
					even[l] += even[l+w/2]
				}
			}
			s := even[0]
			for p := body; p < k; p++ {
				s = fma(x[p], row[p], s)
			}
			out[j] = s
		}
	}
}

// axpyTwin sums each column in p order, one FMA per p from zero.
func axpyTwin[T Float](k int, x, b []T, ldb, n int, out []T) {
	out = out[:n]
	clear(out)
	for p, v := range x[:k] {
		row := b[p*ldb : p*ldb+n]
		for j, bv := range row {
			out[j] = fma(v, bv, out[j])
		}
	}
}

// rank1Twin is rank1Go with the merge of C fused, as a one-deep tile of the micro-kernels
// (twinKernel) rounds it: beta*c + alpha*(s*b) with one rounding for the sum.
func rank1Twin[T Float](n int, s T, b, c []T, alpha, beta T) {
	b, c = b[:n], c[:n]
	for j, bv := range b {
		v := alpha * (s * bv)
		if beta != 0 {
			v = fma(beta, c[j], v)
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
