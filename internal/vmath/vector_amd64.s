//go:build !purego

#include "textflag.h"

// func momentumStep32AVX2(param, grad, buf *float32, n int, negLR, keep, momentum float32) (nonFinite int)
//
// Eight lanes at a time, the Go twin's operations in its order: m = buf*momentum (one
// rounding), b = grad*keep + m (one FMA), buf = b, param = b*negLR + param (one FMA).
// Y0 = negLR, Y1 = keep, Y2 = momentum in every lane. Y6 collects the OR of param·0 over
// the new params: ±0 where they are finite, a NaN pattern in any lane that met a NaN or
// an infinity (OR keeps the exponent all ones and the quiet bit), so that the step tells
// whether the weights stayed finite without a second pass over them; nonFinite is the
// mask of Y6's NaN lanes.
TEXT ·momentumStep32AVX2(SB), NOSPLIT, $0-56
	MOVQ         param+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         buf+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS negLR+32(FP), Y0
	VBROADCASTSS keep+36(FP), Y1
	VBROADCASTSS momentum+40(FP), Y2
	VXORPS       Y6, Y6, Y6
	VXORPS       Y7, Y7, Y7
	XORQ         AX, AX

loop:
	VMOVUPS     (DX)(AX*4), Y3
	VMULPS      Y2, Y3, Y3
	VMOVUPS     (SI)(AX*4), Y4
	VFMADD231PS Y1, Y4, Y3
	VMOVUPS     Y3, (DX)(AX*4)
	VMOVUPS     (DI)(AX*4), Y5
	VFMADD231PS Y0, Y3, Y5
	VMOVUPS     Y5, (DI)(AX*4)
	VMULPS      Y7, Y5, Y5
	VORPS       Y5, Y6, Y6
	ADDQ        $8, AX
	CMPQ        AX, CX
	JLT         loop
	VCMPPS      $3, Y6, Y6, Y6
	VMOVMSKPS   Y6, AX
	MOVQ        AX, nonFinite+48(FP)
	VZEROUPPER
	RET

// func momentumStep64AVX2(param, grad, buf *float64, n int, negLR, keep, momentum float64) (nonFinite int)
//
// momentumStep32AVX2 in float64, four lanes at a time.
TEXT ·momentumStep64AVX2(SB), NOSPLIT, $0-64
	MOVQ         param+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         buf+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD negLR+32(FP), Y0
	VBROADCASTSD keep+40(FP), Y1
	VBROADCASTSD momentum+48(FP), Y2
	VXORPD       Y6, Y6, Y6
	VXORPD       Y7, Y7, Y7
	XORQ         AX, AX

loop:
	VMOVUPD     (DX)(AX*8), Y3
	VMULPD      Y2, Y3, Y3
	VMOVUPD     (SI)(AX*8), Y4
	VFMADD231PD Y1, Y4, Y3
	VMOVUPD     Y3, (DX)(AX*8)
	VMOVUPD     (DI)(AX*8), Y5
	VFMADD231PD Y0, Y3, Y5
	VMOVUPD     Y5, (DI)(AX*8)
	VMULPD      Y7, Y5, Y5
	VORPD       Y5, Y6, Y6
	ADDQ        $4, AX
	CMPQ        AX, CX
	JLT         loop
	VCMPPD      $3, Y6, Y6, Y6
	VMOVMSKPD   Y6, AX
	MOVQ        AX, nonFinite+56(FP)
	VZEROUPPER
	RET

// func tanhDeriv32AVX2(deriv, y *float32, n int)
//
// deriv = 1 - y² with one rounding: VFNMADD231PS computes -(y*y) + 1, which is
// FMA32(-y, y, 1) bit for bit (negating the product is exact).
TEXT ·tanhDeriv32AVX2(SB), NOSPLIT, $0-24
	MOVQ         deriv+0(FP), DI
	MOVQ         y+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         $0x3f800000, AX // 1.0
	MOVL         AX, X0
	VBROADCASTSS X0, Y0
	XORQ         AX, AX

tanhloop:
	VMOVUPS      (SI)(AX*4), Y1
	VMOVAPS      Y0, Y2
	VFNMADD231PS Y1, Y1, Y2
	VMOVUPS      Y2, (DI)(AX*4)
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          tanhloop
	VZEROUPPER
	RET

// func sigmoidDeriv32AVX2(deriv, y *float32, n int)
//
// deriv = s - s² with one rounding: -(s*s) + s, FMA32(-s, s, s) bit for bit.
TEXT ·sigmoidDeriv32AVX2(SB), NOSPLIT, $0-24
	MOVQ         deriv+0(FP), DI
	MOVQ         y+8(FP), SI
	MOVQ         n+16(FP), CX
	XORQ         AX, AX

sigmoidloop:
	VMOVUPS      (SI)(AX*4), Y1
	VMOVAPS      Y1, Y2
	VFNMADD231PS Y1, Y1, Y2
	VMOVUPS      Y2, (DI)(AX*4)
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          sigmoidloop
	VZEROUPPER
	RET

// func stepMax32AVX2(e, j *float32, n int, gamma float32, acc *[16]uint32, sq *[8]float64)
//
// StepMax32's loop, eight lanes at a time: d = g*(e - j) and v = e - d, each rounded in
// float32 as the Go loop rounds; v² in float64 (exact) added to the lane's sum; the
// maxima of |v| and |d| kept as bit patterns with the sign cleared (unsigned order is the
// numeric order there, NaN above Inf). Y0 = gamma, Y1 = the mask, Y2 and Y3 the maxima, Y4 and
// Y5 the sums of lanes 0-3 and 4-7.
TEXT ·stepMax32AVX2(SB), NOSPLIT, $0-48
	MOVQ         e+0(FP), DI
	MOVQ         j+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS gamma+24(FP), Y0
	MOVQ         acc+32(FP), R8
	MOVQ         sq+40(FP), R9
	MOVL         $0x7fffffff, AX
	MOVL         AX, X1
	VPBROADCASTD X1, Y1
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	VMOVUPD      (R9), Y4
	VMOVUPD      32(R9), Y5
	XORQ         AX, AX

steploop:
	VMOVUPS      (DI)(AX*4), Y6
	VSUBPS       (SI)(AX*4), Y6, Y7
	VMULPS       Y0, Y7, Y7
	VSUBPS       Y7, Y6, Y6
	VMOVUPS      Y6, (DI)(AX*4)
	VCVTPS2PD    X6, Y8
	VMULPD       Y8, Y8, Y8
	VADDPD       Y8, Y4, Y4
	VEXTRACTF128 $1, Y6, X9
	VCVTPS2PD    X9, Y9
	VMULPD       Y9, Y9, Y9
	VADDPD       Y9, Y5, Y5
	VPAND        Y1, Y6, Y10
	VPMAXUD      Y10, Y2, Y2
	VPAND        Y1, Y7, Y11
	VPMAXUD      Y11, Y3, Y3
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          steploop
	VMOVDQU      Y2, (R8)
	VMOVDQU      Y3, 32(R8)
	VMOVUPD      Y4, (R9)
	VMOVUPD      Y5, 32(R9)
	VZEROUPPER
	RET

// func diffMax32AVX2(e, x, p *float32, n int, acc *[16]uint32, sq *[8]float64)
//
// DiffMax32's loop, eight lanes at a time: v = x - p and d = v - e, each rounded in
// float32 as the Go loop rounds, e = v; the squares and maxima as in stepMax32AVX2.
TEXT ·diffMax32AVX2(SB), NOSPLIT, $0-48
	MOVQ         e+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         p+16(FP), DX
	MOVQ         n+24(FP), CX
	MOVQ         acc+32(FP), R8
	MOVQ         sq+40(FP), R9
	MOVL         $0x7fffffff, AX
	MOVL         AX, X1
	VPBROADCASTD X1, Y1
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	VMOVUPD      (R9), Y4
	VMOVUPD      32(R9), Y5
	XORQ         AX, AX

diffloop:
	VMOVUPS      (SI)(AX*4), Y6
	VSUBPS       (DX)(AX*4), Y6, Y6
	VMOVUPS      (DI)(AX*4), Y7
	VSUBPS       Y7, Y6, Y7
	VMOVUPS      Y6, (DI)(AX*4)
	VCVTPS2PD    X6, Y8
	VMULPD       Y8, Y8, Y8
	VADDPD       Y8, Y4, Y4
	VEXTRACTF128 $1, Y6, X9
	VCVTPS2PD    X9, Y9
	VMULPD       Y9, Y9, Y9
	VADDPD       Y9, Y5, Y5
	VPAND        Y1, Y6, Y10
	VPMAXUD      Y10, Y2, Y2
	VPAND        Y1, Y7, Y11
	VPMAXUD      Y11, Y3, Y3
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          diffloop
	VMOVDQU      Y2, (R8)
	VMOVDQU      Y3, 32(R8)
	VMOVUPD      Y4, (R9)
	VMOVUPD      Y5, 32(R9)
	VZEROUPPER
	RET

// func sumSquares32AVX2(v *float32, n int, sq *[8]float64)
//
// Adds float64(v[i])² (exact) to sq's lane i mod 8 for the first n elements.
TEXT ·sumSquares32AVX2(SB), NOSPLIT, $0-24
	MOVQ         v+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVQ         sq+16(FP), R9
	VMOVUPD      (R9), Y4
	VMOVUPD      32(R9), Y5
	XORQ         AX, AX

sqloop:
	VCVTPS2PD    (SI)(AX*4), Y8
	VMULPD       Y8, Y8, Y8
	VADDPD       Y8, Y4, Y4
	VCVTPS2PD    16(SI)(AX*4), Y9
	VMULPD       Y9, Y9, Y9
	VADDPD       Y9, Y5, Y5
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          sqloop
	VMOVUPD      Y4, (R9)
	VMOVUPD      Y5, 32(R9)
	VZEROUPPER
	RET

// func setMax32AVX2(e, c *float32, n int, acc *[16]uint32, sq *[8]float64)
//
// SetMax32's loop, eight lanes at a time: d = e - c, e = c + 0 (Y0 holds +0); the
// squares and maxima as in stepMax32AVX2.
TEXT ·setMax32AVX2(SB), NOSPLIT, $0-40
	MOVQ         e+0(FP), DI
	MOVQ         c+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         acc+24(FP), R8
	MOVQ         sq+32(FP), R9
	MOVL         $0x7fffffff, AX
	MOVL         AX, X1
	VPBROADCASTD X1, Y1
	VPXOR        Y0, Y0, Y0
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	VMOVUPD      (R9), Y4
	VMOVUPD      32(R9), Y5
	XORQ         AX, AX

setloop:
	VMOVUPS      (SI)(AX*4), Y6
	VMOVUPS      (DI)(AX*4), Y7
	VSUBPS       Y6, Y7, Y7
	VADDPS       Y0, Y6, Y6
	VMOVUPS      Y6, (DI)(AX*4)
	VCVTPS2PD    X6, Y8
	VMULPD       Y8, Y8, Y8
	VADDPD       Y8, Y4, Y4
	VEXTRACTF128 $1, Y6, X9
	VCVTPS2PD    X9, Y9
	VMULPD       Y9, Y9, Y9
	VADDPD       Y9, Y5, Y5
	VPAND        Y1, Y6, Y10
	VPMAXUD      Y10, Y2, Y2
	VPAND        Y1, Y7, Y11
	VPMAXUD      Y11, Y3, Y3
	ADDQ         $8, AX
	CMPQ         AX, CX
	JLT          setloop
	VMOVDQU      Y2, (R8)
	VMOVDQU      Y3, 32(R8)
	VMOVUPD      Y4, (R9)
	VMOVUPD      Y5, 32(R9)
	VZEROUPPER
	RET
