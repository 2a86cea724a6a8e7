//go:build !purego

package vmath

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Which assembly kernels this CPU can run; x/sys/cpu also checks that the OS saves the
// YMM and ZMM state.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ
)

// The AVX2 kernels process n elements of a and, when deriv is not nil, of deriv, with n
// a positive multiple of 4. The AVX-512 kernels take any n ≥ 0. tab is &asmTable[0].
//
//go:noescape
func tanhAVX2(a, deriv *float64, n int, tab *float64)

//go:noescape
func sigmoidAVX2(a, deriv *float64, n int, tab *float64)

//go:noescape
func tanhAVX512(a, deriv *float64, n int, tab *float64)

//go:noescape
func sigmoidAVX512(a, deriv *float64, n int, tab *float64)

func tanhInPlace(a, deriv []float64) {
	switch {
	case hasAVX512:
		tanhAsm512(a, deriv)
	case hasAVX2:
		tanhAsm2(a, deriv)
	default:
		tanhGeneric(a, deriv)
	}
}

func sigmoidInPlace(a, deriv []float64) {
	switch {
	case hasAVX512:
		sigmoidAsm512(a, deriv)
	case hasAVX2:
		sigmoidAsm2(a, deriv)
	default:
		sigmoidGeneric(a, deriv)
	}
}

func tanhAsm512(a, deriv []float64) {
	if len(a) > 0 {
		tanhAVX512(&a[0], firstOrNil(deriv), len(a), &asmTable[0])
	}
}

func sigmoidAsm512(a, deriv []float64) {
	if len(a) > 0 {
		sigmoidAVX512(&a[0], firstOrNil(deriv), len(a), &asmTable[0])
	}
}

// tanhAsm2 runs the AVX2 kernel on the first len(a)&^3 elements and the Go kernel,
// which gives the same bits, on the rest.
func tanhAsm2(a, deriv []float64) {
	if n := len(a) &^ 3; n > 0 {
		tanhAVX2(&a[0], firstOrNil(deriv), n, &asmTable[0])
		a = a[n:]
		if deriv != nil {
			deriv = deriv[n:]
		}
	}
	tanhGeneric(a, deriv)
}

func sigmoidAsm2(a, deriv []float64) {
	if n := len(a) &^ 3; n > 0 {
		sigmoidAVX2(&a[0], firstOrNil(deriv), n, &asmTable[0])
		a = a[n:]
		if deriv != nil {
			deriv = deriv[n:]
		}
	}
	sigmoidGeneric(a, deriv)
}

// asmKernels lists the assembly kernels this CPU can run.
func asmKernels() []asmKernel {
	var ks []asmKernel
	if hasAVX2 {
		ks = append(ks, asmKernel{"avx2", tanhAsm2, sigmoidAsm2})
	}
	if hasAVX512 {
		ks = append(ks, asmKernel{"avx512", tanhAsm512, sigmoidAsm512})
	}
	return ks
}

func firstOrNil(s []float64) *float64 {
	if s == nil {
		return nil
	}
	return &s[0]
}

// Rows of asmTable, each one constant repeated in 4 lanes (32 bytes). The byte offsets
// 32·row are spelled out in asmtable_amd64.h; the tests that compare the assembly with the
// Go kernels bit for bit catch any mismatch.
const (
	rowAbsMask = iota
	rowSignMask
	rowOne
	rowHalf
	rowTanhSmallMax
	rowTanhClamp
	rowLog2e
	rowMagicTanh
	rowMagicSigmoid
	rowLn2Hi
	rowLn2Lo
	rowSigmoidClamp
	rowSigmoidUnscale
	rowExpC1                  // expC1..expC11
	rowTanhP0 = rowExpC1 + 11 // tanhP0..tanhP10
	numRows   = rowTanhP0 + 11
)

// asmTable is the constant table of the assembly kernels, 32-byte aligned so that no
// row straddles a cache line.
var asmTable = newAsmTable()

func newAsmTable() []float64 {
	buf := make([]float64, (numRows+1)*4)
	skip := int((32-uintptr(unsafe.Pointer(&buf[0]))%32)%32) / 8
	tab := buf[skip : skip+numRows*4]
	set := func(row int, v float64) {
		for i := range 4 {
			tab[row*4+i] = v
		}
	}
	set(rowAbsMask, math.Float64frombits(1<<63-1))
	set(rowSignMask, math.Float64frombits(1<<63))
	set(rowOne, 1)
	set(rowHalf, 0.5)
	set(rowTanhSmallMax, tanhSmallMax)
	set(rowTanhClamp, tanhClamp)
	set(rowLog2e, log2e)
	set(rowMagicTanh, roundMagic-1)
	set(rowMagicSigmoid, roundMagic+sigmoidScaleBias)
	set(rowLn2Hi, ln2Hi)
	set(rowLn2Lo, ln2Lo)
	set(rowSigmoidClamp, sigmoidClamp)
	set(rowSigmoidUnscale, 0x1p-64)
	for i, c := range [...]float64{expC1, expC2, expC3, expC4, expC5, expC6, expC7, expC8, expC9, expC10, expC11} {
		set(rowExpC1+i, c)
	}
	for i, c := range [...]float64{tanhP0, tanhP1, tanhP2, tanhP3, tanhP4, tanhP5, tanhP6, tanhP7, tanhP8, tanhP9, tanhP10} {
		set(rowTanhP0+i, c)
	}
	return tab
}
