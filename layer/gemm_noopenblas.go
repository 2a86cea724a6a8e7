//go:build !openblas || !cgo

package layer

const haveOpenBLAS = false

// gemmOpenBLAS is unreachable without the openblas tag: UseKernel refuses KernelOpenBLAS.
func gemmOpenBLAS(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("layer: OpenBLAS kernel selected in a binary built without the openblas tag")
}
