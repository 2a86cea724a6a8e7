//go:build openblas && cgo

package layer

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

// haveOpenBLAS says that this binary links OpenBLAS (built with -tags openblas; needs
// Debian's libopenblas-dev or an equivalent cblas.h and libopenblas).
const haveOpenBLAS = true

func init() {
	// One OpenBLAS thread per call: the engine runs one goroutine per layer and supplies
	// the parallelism itself.
	C.openblas_set_num_threads(1)
}

// gemmOpenBLAS is gemm with cblas_dgemm on row-major data.
func gemmOpenBLAS(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	var ta, tb uint32 = C.CblasNoTrans, C.CblasNoTrans // enum CBLAS_TRANSPOSE
	if tA {
		ta = C.CblasTrans
	}
	if tB {
		tb = C.CblasTrans
	}
	// cblas_dgemm reads nothing of A and B when k is 0, but the pointers must be valid.
	var pa, pb *C.double
	if len(a) > 0 {
		pa = (*C.double)(&a[0])
	}
	if len(b) > 0 {
		pb = (*C.double)(&b[0])
	}
	C.cblas_dgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), pa, C.blasint(lda), pb, C.blasint(ldb),
		C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

// gemmOpenBLAS32 is gemmOpenBLAS with cblas_sgemm, for float32 data.
func gemmOpenBLAS32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	var ta, tb uint32 = C.CblasNoTrans, C.CblasNoTrans
	if tA {
		ta = C.CblasTrans
	}
	if tB {
		tb = C.CblasTrans
	}
	var pa, pb *C.float
	if len(a) > 0 {
		pa = (*C.float)(&a[0])
	}
	if len(b) > 0 {
		pb = (*C.float)(&b[0])
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), pa, C.blasint(lda), pb, C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}
