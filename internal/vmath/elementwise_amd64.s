//go:build !purego

#include "textflag.h"

// Elementwise loops, one vector of lanes per iteration; each lane's operation is the Go
// twin's, rounded once.

// func mul64AVX2(dst, a, b *float64, n int)
TEXT ·mul64AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX

mul64loop:
	VMOVUPD (SI)(AX*8), Y0
	VMULPD  (DX)(AX*8), Y0, Y0
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	CMPQ    AX, CX
	JLT     mul64loop
	VZEROUPPER
	RET

// func mul32AVX2(dst, a, b *float32, n int)
TEXT ·mul32AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX

mul32loop:
	VMOVUPS (SI)(AX*4), Y0
	VMULPS  (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, CX
	JLT     mul32loop
	VZEROUPPER
	RET

// func addTo64AVX2(dst, src *float64, n int)
TEXT ·addTo64AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

add64loop:
	VMOVUPD (DI)(AX*8), Y0
	VADDPD  (SI)(AX*8), Y0, Y0
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	CMPQ    AX, CX
	JLT     add64loop
	VZEROUPPER
	RET

// func addTo32AVX2(dst, src *float32, n int)
TEXT ·addTo32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

add32loop:
	VMOVUPS (DI)(AX*4), Y0
	VADDPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, CX
	JLT     add32loop
	VZEROUPPER
	RET

// func finiteSum64AVX2(v *float64, n int) float64
//
// Two accumulators of four lanes; each adds v·0 with one FMA (Y2 is zero).
TEXT ·finiteSum64AVX2(SB), NOSPLIT, $0-24
	MOVQ   v+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	XORQ   AX, AX

finite64loop:
	VFMADD231PD (SI)(AX*8), Y2, Y0
	VFMADD231PD 32(SI)(AX*8), Y2, Y1
	ADDQ        $8, AX
	CMPQ        AX, CX
	JLT         finite64loop
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VHADDPD      X0, X0, X0
	VMOVSD       X0, ret+16(FP)
	VZEROUPPER
	RET

// func finiteSum32AVX2(v *float32, n int) float32
TEXT ·finiteSum32AVX2(SB), NOSPLIT, $0-20
	MOVQ   v+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	XORQ   AX, AX

finite32loop:
	VFMADD231PS (SI)(AX*4), Y2, Y0
	VFMADD231PS 32(SI)(AX*4), Y2, Y1
	ADDQ        $16, AX
	CMPQ        AX, CX
	JLT         finite32loop
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET
