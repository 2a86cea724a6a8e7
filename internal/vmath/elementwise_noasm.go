//go:build !amd64 || purego

package vmath

func mul64(dst, a, b []float64)  { mul64Go(dst, a, b) }
func mul32(dst, a, b []float32)  { mul32Go(dst, a, b) }
func addTo64(dst, src []float64) { addTo64Go(dst, src) }
func addTo32(dst, src []float32) { addTo32Go(dst, src) }

func allFinite64(v []float64) bool { return allFiniteGo(v) }
func allFinite32(v []float32) bool { return allFiniteGo(v) }
