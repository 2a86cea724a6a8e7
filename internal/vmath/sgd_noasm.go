//go:build !amd64 || purego

package vmath

func momentumStep32(param, grad, buf []float32, negLR, keep, momentum float32) {
	momentumStep32Go(param, grad, buf, negLR, keep, momentum)
}

func momentumStep64(param, grad, buf []float64, negLR, keep, momentum float64) {
	momentumStep64Go(param, grad, buf, negLR, keep, momentum)
}
