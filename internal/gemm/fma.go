package gemm

import "math"

// fma returns x*y + z rounded once to T, as the FMA instructions of the assembly kernels
// do, so that the Go paths that must round like them (edge tiles, matrix-vector products,
// the kernels' Go twins) agree with them bit for bit.
func fma[T Float](x, y, z T) T {
	if is32[T]() {
		return T(fma32(float32(x), float32(y), float32(z)))
	}
	return T(math.FMA(float64(x), float64(y), float64(z)))
}

// fma32 is the float32 FMA, which package math lacks. The product of two float32 values is
// exact in float64, and so is the error of the float64 sum (TwoSum); rounding that sum to
// odd (nudging an inexact result with an even last bit one ulp towards the exact value)
// keeps enough information for the final rounding to float32, 29 bits narrower, to be the
// correct one: round-to-odd in p >= 2q+2 bits, then to q bits, rounds correctly.
func fma32(x, y, z float32) float32 {
	xy, zz := float64(x)*float64(y), float64(z)
	s := xy + zz
	if s == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		// A zero sum of two float64 is exact; Inf and NaN propagate as the instruction's do.
		return float32(s)
	}
	bp := s - xy
	e := (xy - (s - bp)) + (zz - bp)
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++ // the exact sum is larger in magnitude than s
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}
