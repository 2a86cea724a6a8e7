//go:build !purego

package vmath

// momentumStep32AVX2 runs MomentumStep32 on the first n elements, n a positive multiple
// of 8, and returns a non-zero mask where a new param is not finite.
//
//go:noescape
func momentumStep32AVX2(param, grad, buf *float32, n int, negLR, keep, momentum float32) (nonFinite int)

// momentumStep32 runs the step and reports whether every new param is finite.
func momentumStep32(param, grad, buf []float32, negLR, keep, momentum float32) bool {
	n := len(param) &^ 7
	if !hasAVX2 || n == 0 {
		return momentumStep32Go(param, grad, buf, negLR, keep, momentum)
	}
	head := momentumStep32AVX2(&param[0], &grad[0], &buf[0], n, negLR, keep, momentum) == 0
	return momentumStep32Go(param[n:], grad[n:], buf[n:], negLR, keep, momentum) && head
}

// momentumStep64AVX2 runs MomentumStep on the first n elements, n a positive multiple of 4,
// and returns a non-zero mask where a new param is not finite.
//
//go:noescape
func momentumStep64AVX2(param, grad, buf *float64, n int, negLR, keep, momentum float64) (nonFinite int)

func momentumStep64(param, grad, buf []float64, negLR, keep, momentum float64) bool {
	n := len(param) &^ 3
	if !hasAVX2 || n == 0 {
		return momentumStep64Go(param, grad, buf, negLR, keep, momentum)
	}
	head := momentumStep64AVX2(&param[0], &grad[0], &buf[0], n, negLR, keep, momentum) == 0
	return momentumStep64Go(param[n:], grad[n:], buf[n:], negLR, keep, momentum) && head
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

// stepMax32AVX2 runs StepMax32's loop on the first n elements, n a positive multiple of 8:
// it leaves the maxima of the abs bits of the new e and of the change in acc[0:8] and
// acc[8:16], lane by lane, and adds each square to sq's lane i mod 8.
//
//go:noescape
func stepMax32AVX2(e, j *float32, n int, gamma float32, acc *[16]uint32, sq *[8]float64)

// stepMax32Head runs the vector part of StepMax32, the first len(e) &^ 7 elements, and
// returns how many it ran and their maxima; 0 where the CPU lacks AVX2.
func stepMax32Head(e, j []float32, g float32, sq *squareSum32) (n int, em, dm uint32) {
	n = sq.n
	if !hasAVX2 || n == 0 {
		return 0, 0, 0
	}
	var acc [16]uint32
	stepMax32AVX2(&e[0], &j[0], n, g, &acc, &sq.lane)
	for k := range 8 {
		em, dm = max(em, acc[k]), max(dm, acc[8+k])
	}
	return n, em, dm
}

// diffMax32AVX2 runs DiffMax32's loop on the first n elements, n a positive multiple of 8,
// leaving its maxima and squares as stepMax32AVX2 does.
//
//go:noescape
func diffMax32AVX2(e, x, p *float32, n int, acc *[16]uint32, sq *[8]float64)

// sumSquares32AVX2 adds the squares of the first n elements, n a positive multiple of 8,
// to sq's lane i mod 8.
//
//go:noescape
func sumSquares32AVX2(v *float32, n int, sq *[8]float64)

// diffMax32Head is stepMax32Head for DiffMax32.
func diffMax32Head(e, x, p []float32, sq *squareSum32) (n int, em, dm uint32) {
	n = sq.n
	if !hasAVX2 || n == 0 {
		return 0, 0, 0
	}
	var acc [16]uint32
	diffMax32AVX2(&e[0], &x[0], &p[0], n, &acc, &sq.lane)
	for k := range 8 {
		em, dm = max(em, acc[k]), max(dm, acc[8+k])
	}
	return n, em, dm
}

// sumSquares32Head runs the vector part of SumSquares32 and returns how many elements it
// ran; 0 where the CPU lacks AVX2.
func sumSquares32Head(v []float32, sq *squareSum32) int {
	if !hasAVX2 || sq.n == 0 {
		return 0
	}
	sumSquares32AVX2(&v[0], sq.n, &sq.lane)
	return sq.n
}

// setMax32AVX2 runs SetMax32's loop on the first n elements, n a positive multiple of 8,
// leaving its maxima and squares as stepMax32AVX2 does.
//
//go:noescape
func setMax32AVX2(e, c *float32, n int, acc *[16]uint32, sq *[8]float64)

// setMax32Head is stepMax32Head for SetMax32.
func setMax32Head(e, c []float32, sq *squareSum32) (n int, em, dm uint32) {
	n = sq.n
	if !hasAVX2 || n == 0 {
		return 0, 0, 0
	}
	var acc [16]uint32
	setMax32AVX2(&e[0], &c[0], n, &acc, &sq.lane)
	for k := range 8 {
		em, dm = max(em, acc[k]), max(dm, acc[8+k])
	}
	return n, em, dm
}
