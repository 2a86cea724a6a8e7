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

// tanhDeriv32AVX2 and sigmoidDeriv32AVX2 run derivFromValue32 on the first n elements, n a
// positive multiple of 8.
//
//go:noescape
func tanhDeriv32AVX2(deriv, y *float32, n int)

//go:noescape
func sigmoidDeriv32AVX2(deriv, y *float32, n int)

func derivFromValue32(deriv, y []float32, sigmoid bool) {
	n := len(y) &^ 7
	if !hasAVX2 || n == 0 {
		derivFromValue32Go(deriv, y, sigmoid)
		return
	}
	if sigmoid {
		sigmoidDeriv32AVX2(&deriv[0], &y[0], n)
	} else {
		tanhDeriv32AVX2(&deriv[0], &y[0], n)
	}
	derivFromValue32Go(deriv[n:], y[n:], sigmoid)
}
