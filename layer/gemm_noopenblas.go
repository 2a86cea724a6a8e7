//go:build !openblas || !cgo

package layer

const haveOpenBLAS = false

// gemmOpenBLAS is unreachable without the openblas tag: UseKernel refuses KernelOpenBLAS.
func gemmOpenBLAS(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("layer: OpenBLAS kernel selected in a binary built without the openblas tag")
}

// gemmOpenBLAS32 is gemmOpenBLAS in float32, as unreachable.
func gemmOpenBLAS32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("layer: OpenBLAS kernel selected in a binary built without the openblas tag")
}
