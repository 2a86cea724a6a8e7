//go:build !purego

package vmath

// The AVX2 loops run on the first n elements, n a positive multiple of 8 (float32) or 4
// (float64); the Go twins do the rest.
//
//go:noescape
func mul64AVX2(dst, a, b *float64, n int)

//go:noescape
func mul32AVX2(dst, a, b *float32, n int)

//go:noescape
func addTo64AVX2(dst, src *float64, n int)

//go:noescape
func addTo32AVX2(dst, src *float32, n int)

func mul64(dst, a, b []float64) {
	n := len(dst) &^ 3
	if !hasAVX2 || n == 0 {
		mul64Go(dst, a, b)
		return
	}
	mul64AVX2(&dst[0], &a[0], &b[0], n)
	mul64Go(dst[n:], a[n:], b[n:])
}

func mul32(dst, a, b []float32) {
	n := len(dst) &^ 7
	if !hasAVX2 || n == 0 {
		mul32Go(dst, a, b)
		return
	}
	mul32AVX2(&dst[0], &a[0], &b[0], n)
	mul32Go(dst[n:], a[n:], b[n:])
}

func addTo64(dst, src []float64) {
	n := len(dst) &^ 3
	if !hasAVX2 || n == 0 {
		addTo64Go(dst, src)
		return
	}
	addTo64AVX2(&dst[0], &src[0], n)
	addTo64Go(dst[n:], src[n:])
}

func addTo32(dst, src []float32) {
	n := len(dst) &^ 7
	if !hasAVX2 || n == 0 {
		addTo32Go(dst, src)
		return
	}
	addTo32AVX2(&dst[0], &src[0], n)
	addTo32Go(dst[n:], src[n:])
}

// finiteSum64AVX2 and finiteSum32AVX2 return the sum of v[i]·0 over the first n elements,
// n a positive multiple of 8 (float64) or 16 (float32), in some order: zero exactly when
// every value is finite, NaN otherwise.
//
//go:noescape
func finiteSum64AVX2(v *float64, n int) float64

//go:noescape
func finiteSum32AVX2(v *float32, n int) float32

func allFinite64(v []float64) bool {
	n := len(v) &^ 7
	if !hasAVX2 || n == 0 {
		return allFiniteGo(v)
	}
	return finiteSum64AVX2(&v[0], n) == 0 && allFiniteGo(v[n:])
}

func allFinite32(v []float32) bool {
	n := len(v) &^ 15
	if !hasAVX2 || n == 0 {
		return allFiniteGo(v)
	}
	return finiteSum32AVX2(&v[0], n) == 0 && allFiniteGo(v[n:])
}
