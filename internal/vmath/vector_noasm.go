//go:build !amd64 || purego

package vmath

func momentumStep32(param, grad, buf []float32, negLR, keep, momentum float32) bool {
	return momentumStep32Go(param, grad, buf, negLR, keep, momentum)
}

func momentumStep64(param, grad, buf []float64, negLR, keep, momentum float64) bool {
	return momentumStep64Go(param, grad, buf, negLR, keep, momentum)
}

func derivFromValue32(deriv, y []float32, sigmoid bool) { derivFromValue32Go(deriv, y, sigmoid) }

func stepMax32Head(e, j []float32, g float32, sq *squareSum32) (n int, em, dm uint32) {
	return 0, 0, 0
}

func diffMax32Head(e, x, p []float32, sq *squareSum32) (n int, em, dm uint32) {
	return 0, 0, 0
}

func sumSquares32Head(v []float32, sq *squareSum32) int { return 0 }

func setMax32Head(e, c []float32, sq *squareSum32) (n int, em, dm uint32) { return 0, 0, 0 }
