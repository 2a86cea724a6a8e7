//go:build !purego

#include "textflag.h"

// Y1 holds the mask 0x7fff_ffff_ffff_ffff, which clears the sign bit. Y2, Y3 collect the
// size maxima and Y4, Y5 the change maxima, as bit patterns of |v|: these are
// non-negative as signed integers, so VPCMPGTQ orders them numerically (NaN above +Inf
// above every finite value). Y14 and Y15 collect the squares of the new values of
// elements 0-3 and 4-7 of every block of eight: lane k of the sum holds element k's,
// each square rounded before it is added (no fused multiply-add), as in the Go twin.

// MAXABS sets ACC = max(ACC, |V|) lane by lane; clobbers V and T.
#define MAXABS(V, ACC, T) \
	VPAND     Y1, V, V \
	VPCMPGTQ  ACC, V, T \
	VBLENDVPD T, V, ACC, ACC

// SQUARES adds the squares of V0 and V1 to Y14 and Y15; clobbers T0 and T1.
#define SQUARES(V0, V1, T0, T1) \
	VMULPD V0, V0, T0 \
	VMULPD V1, V1, T1 \
	VADDPD T0, Y14, Y14 \
	VADDPD T1, Y15, Y15

#define SETUP \
	VPCMPEQQ Y1, Y1, Y1 \
	VPSRLQ   $1, Y1, Y1 \
	VPXOR    Y2, Y2, Y2 \
	VPXOR    Y3, Y3, Y3 \
	VPXOR    Y4, Y4, Y4 \
	VPXOR    Y5, Y5, Y5 \
	VPXOR    Y14, Y14, Y14 \
	VPXOR    Y15, Y15, Y15

// FINISH folds the two chains of each maximum and stores them to (DX), and stores the
// eight lanes of squares to (R8).
#define FINISH \
	VPCMPGTQ  Y3, Y2, Y10 \
	VBLENDVPD Y10, Y2, Y3, Y3 \
	VPCMPGTQ  Y5, Y4, Y11 \
	VBLENDVPD Y11, Y4, Y5, Y5 \
	VMOVDQU   Y3, (DX) \
	VMOVDQU   Y5, 32(DX) \
	VMOVUPD   Y14, (R8) \
	VMOVUPD   Y15, 32(R8) \
	VZEROUPPER

// func stepMaxAVX2(e, j *float64, n int, gamma float64, acc *[8]uint64, sq *[8]float64)
//
// e = e - d with d = gamma·(e - j), each operation rounded as in stepMaxGeneric.
TEXT ·stepMaxAVX2(SB), NOSPLIT, $0-48
	MOVQ         e+0(FP), SI
	MOVQ         j+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSD gamma+24(FP), Y0
	MOVQ         acc+32(FP), DX
	MOVQ         sq+40(FP), R8
	SETUP
	SHRQ         $3, CX

step8:
	VMOVUPD (SI), Y6
	VMOVUPD 32(SI), Y7
	VSUBPD  (DI), Y6, Y8
	VSUBPD  32(DI), Y7, Y9
	VMULPD  Y0, Y8, Y8
	VMULPD  Y0, Y9, Y9
	VSUBPD  Y8, Y6, Y6
	VSUBPD  Y9, Y7, Y7
	VMOVUPD Y6, (SI)
	VMOVUPD Y7, 32(SI)
	SQUARES(Y6, Y7, Y10, Y11)
	MAXABS(Y6, Y2, Y10)
	MAXABS(Y7, Y3, Y11)
	MAXABS(Y8, Y4, Y12)
	MAXABS(Y9, Y5, Y13)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     step8

	FINISH
	RET

// func diffMaxAVX2(e, x, p *float64, n int, acc *[8]uint64, sq *[8]float64)
//
// v = x - p, d = v - e, e = v.
TEXT ·diffMaxAVX2(SB), NOSPLIT, $0-48
	MOVQ e+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ p+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ acc+32(FP), DX
	MOVQ sq+40(FP), R8
	SETUP
	SHRQ $3, CX

diff8:
	VMOVUPD (DI), Y6
	VMOVUPD 32(DI), Y7
	VSUBPD  (BX), Y6, Y6
	VSUBPD  32(BX), Y7, Y7
	VSUBPD  (SI), Y6, Y8
	VSUBPD  32(SI), Y7, Y9
	VMOVUPD Y6, (SI)
	VMOVUPD Y7, 32(SI)
	SQUARES(Y6, Y7, Y10, Y11)
	MAXABS(Y6, Y2, Y10)
	MAXABS(Y7, Y3, Y11)
	MAXABS(Y8, Y4, Y12)
	MAXABS(Y9, Y5, Y13)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, BX
	DECQ    CX
	JNZ     diff8

	FINISH
	RET

// func setMaxAVX2(e, c *float64, n int, acc *[8]uint64, sq *[8]float64)
//
// d = e - c, e = c + 0 (Y0 holds +0, which turns a -0 into +0).
TEXT ·setMaxAVX2(SB), NOSPLIT, $0-40
	MOVQ   e+0(FP), SI
	MOVQ   c+8(FP), DI
	MOVQ   n+16(FP), CX
	MOVQ   acc+24(FP), DX
	MOVQ   sq+32(FP), R8
	SETUP
	VXORPD Y0, Y0, Y0
	SHRQ   $3, CX

set8:
	VMOVUPD (DI), Y6
	VMOVUPD 32(DI), Y7
	VMOVUPD (SI), Y8
	VMOVUPD 32(SI), Y9
	VSUBPD  Y6, Y8, Y8
	VSUBPD  Y7, Y9, Y9
	VADDPD  Y0, Y6, Y6
	VADDPD  Y0, Y7, Y7
	VMOVUPD Y6, (SI)
	VMOVUPD Y7, 32(SI)
	SQUARES(Y6, Y7, Y10, Y11)
	MAXABS(Y6, Y2, Y10)
	MAXABS(Y7, Y3, Y11)
	MAXABS(Y8, Y4, Y12)
	MAXABS(Y9, Y5, Y13)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     set8

	FINISH
	RET
