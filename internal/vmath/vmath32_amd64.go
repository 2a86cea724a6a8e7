//go:build !purego

package vmath

import (
	"math"
	"unsafe"
)

// The float32 AVX2 kernels process n elements of a and, when deriv is not nil, of deriv,
// with n a positive multiple of 8. tab is &asmTable32[0].
//
//go:noescape
func tanh32AVX2(a, deriv *float32, n int, tab *float32)

//go:noescape
func sigmoid32AVX2(a, deriv *float32, n int, tab *float32)

// tanh32InPlace runs the AVX2 kernel on the first len(a)&^7 elements and the Go twin,
// which gives the same bits, on the rest.
func tanh32InPlace(a, deriv []float32) {
	if n := len(a) &^ 7; hasAVX2 && n > 0 {
		tanh32AVX2(&a[0], firstOrNil32(deriv), n, &asmTable32[0])
		a = a[n:]
		if deriv != nil {
			deriv = deriv[n:]
		}
	}
	tanh32Go(a, deriv)
}

func sigmoid32InPlace(a, deriv []float32) {
	if n := len(a) &^ 7; hasAVX2 && n > 0 {
		sigmoid32AVX2(&a[0], firstOrNil32(deriv), n, &asmTable32[0])
		a = a[n:]
		if deriv != nil {
			deriv = deriv[n:]
		}
	}
	sigmoid32Go(a, deriv)
}

func firstOrNil32(s []float32) *float32 {
	if s == nil {
		return nil
	}
	return &s[0]
}

// Rows of asmTable32, each one constant in 8 lanes (32 bytes); the byte offsets 32·row
// are spelled out in vmath32_amd64.s, and the tests that hold the assembly to the Go
// twin bit for bit catch any mismatch.
const (
	row32AbsMask = iota
	row32SignMask
	row32One
	row32Half
	row32TanhSmallMax
	row32TanhClamp
	row32Log2e
	row32MagicTanh
	row32MagicSigmoid
	row32Ln2Hi
	row32Ln2Lo
	row32SigmoidClamp
	row32SigmoidUnscale
	row32W0                   // exp32W0..exp32W4
	row32TanhP0 = row32W0 + 5 // tanh32P0..tanh32P5
	numRows32   = row32TanhP0 + 6
)

// asmTable32 is the constant table of the float32 kernels, 32-byte aligned.
var asmTable32 = newAsmTable32()

func newAsmTable32() []float32 {
	buf := make([]float32, (numRows32+1)*8)
	skip := int((32-uintptr(unsafe.Pointer(&buf[0]))%32)%32) / 4
	tab := buf[skip : skip+numRows32*8]
	set := func(row int, v float32) {
		for i := range 8 {
			tab[row*8+i] = v
		}
	}
	set(row32AbsMask, math.Float32frombits(sign32-1))
	set(row32SignMask, math.Float32frombits(sign32))
	set(row32One, 1)
	set(row32Half, 0.5)
	set(row32TanhSmallMax, tanh32SmallMax)
	set(row32TanhClamp, tanh32Clamp)
	set(row32Log2e, log2e32)
	set(row32MagicTanh, roundMagic32-1)
	set(row32MagicSigmoid, roundMagic32+sigmoid32ScaleBias)
	set(row32Ln2Hi, ln2Hi32)
	set(row32Ln2Lo, ln2Lo32)
	set(row32SigmoidClamp, sigmoid32Clamp)
	set(row32SigmoidUnscale, sigmoid32Unscale)
	for i, c := range [...]float32{exp32W0, exp32W1, exp32W2, exp32W3, exp32W4} {
		set(row32W0+i, c)
	}
	for i, c := range [...]float32{tanh32P0, tanh32P1, tanh32P2, tanh32P3, tanh32P4, tanh32P5} {
		set(row32TanhP0+i, c)
	}
	return tab
}
