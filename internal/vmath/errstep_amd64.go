//go:build !purego

package vmath

// The AVX2 kernels process the first n elements, n a positive multiple of 8, and leave
// the maxima in acc (four lanes of size bits, then four of change bits) and the sums of
// squares in sq, lane k holding the elements i with i mod 8 = k (see SumSquares).
//
//go:noescape
func stepMaxAVX2(e, j *float64, n int, gamma float64, acc *[8]uint64, sq *[8]float64)

//go:noescape
func diffMaxAVX2(e, x, p *float64, n int, acc *[8]uint64, sq *[8]float64)

//go:noescape
func setMaxAVX2(e, c *float64, n int, acc *[8]uint64, sq *[8]float64)

func stepMax(e, j []float64, gamma float64, sq *squareSum) (size, change uint64) {
	n := len(e) &^ 7
	if !hasAVX2 || n == 0 {
		return stepMaxGeneric(e, j, gamma, sq)
	}
	var acc [8]uint64
	stepMaxAVX2(&e[0], &j[0], n, gamma, &acc, &sq.lane)
	size, change = stepMaxGeneric(e[n:], j[n:], gamma, sq)
	return reduce(size, change, &acc)
}

func diffMax(e, x, p []float64, sq *squareSum) (size, change uint64) {
	n := len(e) &^ 7
	if !hasAVX2 || n == 0 {
		return diffMaxGeneric(e, x, p, sq)
	}
	var acc [8]uint64
	diffMaxAVX2(&e[0], &x[0], &p[0], n, &acc, &sq.lane)
	size, change = diffMaxGeneric(e[n:], x[n:], p[n:], sq)
	return reduce(size, change, &acc)
}

func setMax(e, c []float64, sq *squareSum) (size, change uint64) {
	n := len(e) &^ 7
	if !hasAVX2 || n == 0 {
		return setMaxGeneric(e, c, sq)
	}
	var acc [8]uint64
	setMaxAVX2(&e[0], &c[0], n, &acc, &sq.lane)
	size, change = setMaxGeneric(e[n:], c[n:], sq)
	return reduce(size, change, &acc)
}

func reduce(size, change uint64, acc *[8]uint64) (uint64, uint64) {
	return max(size, acc[0], acc[1], acc[2], acc[3]), max(change, acc[4], acc[5], acc[6], acc[7])
}
