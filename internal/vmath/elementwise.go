package vmath

import "fmt"

// Mul writes dst[i] = a[i] * b[i], each product rounded once: the gating of a cotangent
// by an activation's derivative. On amd64 with AVX2 it runs four lanes at a time (eight
// in Mul32), which rounds each product as the Go loop does, so the result is the same
// bits on every CPU. dst may be a or b. It panics unless the lengths agree.
func Mul(dst, a, b []float64) {
	checkElementwise("Mul", len(dst), len(a), len(b))
	mul64(dst, a, b)
}

// Mul32 is Mul in float32.
func Mul32(dst, a, b []float32) {
	checkElementwise("Mul32", len(dst), len(a), len(b))
	mul32(dst, a, b)
}

// AddTo adds src to dst elementwise, dst[i] += src[i], each sum rounded once: a bias
// gradient is the sum of a batch's rows, added row after row in this order. On amd64
// with AVX2 it runs four lanes at a time (eight in AddTo32), the same sums in the same
// order. It panics unless the lengths agree.
func AddTo(dst, src []float64) {
	checkElementwise("AddTo", len(dst), len(src), len(src))
	addTo64(dst, src)
}

// AddTo32 is AddTo in float32.
func AddTo32(dst, src []float32) {
	checkElementwise("AddTo32", len(dst), len(src), len(src))
	addTo32(dst, src)
}

func checkElementwise(fn string, n, a, b int) {
	if a != n || b != n {
		panic(fmt.Sprintf("vmath: %s: lengths %d, %d and %d, want them equal", fn, n, a, b))
	}
}

// The Go loops: the assembly's twins and tails.

func mul64Go(dst, a, b []float64) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func mul32Go(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func addTo64Go(dst, src []float64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func addTo32Go(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// AllFinite reports whether every value of v is finite (no NaN, no infinity): the check
// a PC network makes of its weights before every update. It sums v[i]·0, which is ±0 for
// a finite value and NaN otherwise, so it takes one pass with no branch per value: on
// amd64 with AVX2 16 lanes at a time (32 in AllFinite32).
func AllFinite(v []float64) bool { return allFinite64(v) }

// AllFinite32 is AllFinite in float32.
func AllFinite32(v []float32) bool { return allFinite32(v) }

// allFiniteGo is AllFinite's loop in Go, the assembly's twin and its tail: v*0 is 0 for a
// finite v and NaN otherwise, so four sums of them are 0 exactly when every v is finite.
func allFiniteGo[T float32 | float64](v []T) bool {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x := v[i : i+4 : i+4]
		a0 += x[0] * 0
		a1 += x[1] * 0
		a2 += x[2] * 0
		a3 += x[3] * 0
	}
	for ; i < len(v); i++ {
		a0 += v[i] * 0
	}
	return a0+a1+a2+a3 == 0
}
