//go:build !purego

package vmath

// momentumStep32AVX2 runs MomentumStep32 on the first n elements, n a positive multiple
// of 8.
//
//go:noescape
func momentumStep32AVX2(param, grad, buf *float32, n int, negLR, keep, momentum float32)

func momentumStep32(param, grad, buf []float32, negLR, keep, momentum float32) {
	n := len(param) &^ 7
	if !hasAVX2 || n == 0 {
		momentumStep32Go(param, grad, buf, negLR, keep, momentum)
		return
	}
	momentumStep32AVX2(&param[0], &grad[0], &buf[0], n, negLR, keep, momentum)
	momentumStep32Go(param[n:], grad[n:], buf[n:], negLR, keep, momentum)
}

// momentumStep64AVX2 runs MomentumStep on the first n elements, n a positive multiple of 4.
//
//go:noescape
func momentumStep64AVX2(param, grad, buf *float64, n int, negLR, keep, momentum float64)

func momentumStep64(param, grad, buf []float64, negLR, keep, momentum float64) {
	n := len(param) &^ 3
	if !hasAVX2 || n == 0 {
		momentumStep64Go(param, grad, buf, negLR, keep, momentum)
		return
	}
	momentumStep64AVX2(&param[0], &grad[0], &buf[0], n, negLR, keep, momentum)
	momentumStep64Go(param[n:], grad[n:], buf[n:], negLR, keep, momentum)
}
