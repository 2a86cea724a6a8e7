//go:build amd64 && !purego

package gemm

// dotsAVX2 is dotsGo in assembly (AVX2, FMA).
//
//go:noescape
func dotsAVX2(k int, x, b *float64, ldb, n int, out *float64)

// axpyAVX2 is axpyGo in assembly (AVX2, FMA).
//
//go:noescape
func axpyAVX2(k int, x, b *float64, ldb, n int, out *float64)

func dotsAsm(k int, x, b []float64, ldb, n int, out []float64) {
	_, _, _ = x[k-1], b[(n-1)*ldb+k-1], out[n-1] // the assembly reads and writes this far
	dotsAVX2(k, &x[0], &b[0], ldb, n, &out[0])
}

func axpyAsm(k int, x, b []float64, ldb, n int, out []float64) {
	_, _, _ = x[k-1], b[(k-1)*ldb+n-1], out[n-1]
	axpyAVX2(k, &x[0], &b[0], ldb, n, &out[0])
}

// rank1AVX2 is rank1Go in assembly (AVX2, FMA).
//
//go:noescape
func rank1AVX2(n int, s float64, b, c *float64, alpha, beta float64)

func rank1Asm(n int, s float64, b, c []float64, alpha, beta float64) {
	_, _ = b[n-1], c[n-1] // the assembly reads and writes this far
	rank1AVX2(n, s, &b[0], &c[0], alpha, beta)
}

// dots32AVX2, axpy32AVX2 and rank132AVX2 are the float32 vector kernels in assembly
// (gemv32_amd64.s, AVX2 and FMA). Their Go twins are dotsTwin (eight lanes), axpyTwin and
// rank1Twin.
//
//go:noescape
func dots32AVX2(k int, x, b *float32, ldb, n int, out *float32)

//go:noescape
func axpy32AVX2(k int, x, b *float32, ldb, n int, out *float32)

//go:noescape
func rank132AVX2(n int, s float32, b, c *float32, alpha, beta float32)

func dots32Asm(k int, x, b []float32, ldb, n int, out []float32) {
	_, _, _ = x[k-1], b[(n-1)*ldb+k-1], out[n-1] // the assembly reads and writes this far
	dots32AVX2(k, &x[0], &b[0], ldb, n, &out[0])
}

func axpy32Asm(k int, x, b []float32, ldb, n int, out []float32) {
	_, _, _ = x[k-1], b[(k-1)*ldb+n-1], out[n-1]
	axpy32AVX2(k, &x[0], &b[0], ldb, n, &out[0])
}

func rank132Asm(n int, s float32, b, c []float32, alpha, beta float32) {
	_, _ = b[n-1], c[n-1]
	rank132AVX2(n, s, &b[0], &c[0], alpha, beta)
}

// axpy32AVX512 is axpy32AVX2 with zmm registers: the same sums (axpyTwin).
//
//go:noescape
func axpy32AVX512(k int, x, b *float32, ldb, n int, out *float32)

func axpy32Asm512(k int, x, b []float32, ldb, n int, out []float32) {
	_, _, _ = x[k-1], b[(k-1)*ldb+n-1], out[n-1]
	axpy32AVX512(k, &x[0], &b[0], ldb, n, &out[0])
}
