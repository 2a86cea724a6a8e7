//go:build !purego

#include "textflag.h"

#include "asmtable_amd64.h"

// EXPREDUCE splits Y = k·ln2 + r (as expReduce): K = round(Y·log2e) + MAGIC, whose low
// bits hold k+bias; S = k; Y = (Y - k·ln2Hi) - k·ln2Lo, the first step exact.
#define EXPREDUCE(Y, MAGIC, K, S) \
	VMOVUPD      MAGIC, K \
	VFMADD231PD  LOG2E, Y, K \
	VSUBPD       MAGIC, K, S \
	VFNMADD231PD LN2HI, S, Y \
	VFNMADD231PD LN2LO, S, Y

// ESTRIN11 sets OUT = C0 + C1·R + ... + C10·R¹⁰ by Estrin's scheme, in exactly the
// operations of expQ: R2 = R², R4 = R2², a_i = C(2i+1)·R + C(2i),
// b0 = a1·R2 + a0, b1 = a3·R2 + a2, b2 = C10·R2 + a4, OUT = (b2·R4 + b1)·R4 + b0.
// Clobbers R2, R4, S1, S2.
#define ESTRIN11(R, OUT, R2, R4, S1, S2, C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10) \
	VMULPD       R, R, R2 \
	VMULPD       R2, R2, R4 \
	VMOVUPD      C1, OUT \
	VFMADD213PD  C0, R, OUT \
	VMOVUPD      C3, S1 \
	VFMADD213PD  C2, R, S1 \
	VFMADD231PD  S1, R2, OUT \
	VMOVUPD      C5, S1 \
	VFMADD213PD  C4, R, S1 \
	VMOVUPD      C7, S2 \
	VFMADD213PD  C6, R, S2 \
	VFMADD231PD  S2, R2, S1 \
	VMOVUPD      C9, S2 \
	VFMADD213PD  C8, R, S2 \
	VFMADD231PD  C10, R2, S2 \
	VFMADD213PD  S1, R4, S2 \
	VFMADD231PD  S2, R4, OUT

// TANH4 replaces the lanes of X by their sign bits and sets P = tanh(X) (as tanh1).
// Y15 holds 1.0. Clobbers Z, T, U, Q and Y6-Y9.
//
// Z = |x|, X = sign bits, T = z², U = z³, P = z + z³·P(z²) (the result below 0.625).
// Then T = 2·min(z, 20) = k·ln2 + r, Q = q(r), U = 2^(k-1) (1.0 plus (k-1)<<52),
// T = r·2^(k-1), U = 2^(k-1) + 1/2, Q = h = U + T·q (one rounding), Q = 1 - 1/h (the
// result from 0.625 on). Z = (z >= 0.625), false for NaN, which the polynomial branch
// propagates.
#define TANH4(X, Z, T, U, P, Q) \
	VANDPD       ABSMASK, X, Z \
	VXORPD       Z, X, X \
	VMULPD       Z, Z, T \
	VMULPD       T, Z, U \
	VMOVUPD      TP10, P \
	VFMADD213PD  TP9, T, P \
	VFMADD213PD  TP8, T, P \
	VFMADD213PD  TP7, T, P \
	VFMADD213PD  TP6, T, P \
	VFMADD213PD  TP5, T, P \
	VFMADD213PD  TP4, T, P \
	VFMADD213PD  TP3, T, P \
	VFMADD213PD  TP2, T, P \
	VFMADD213PD  TP1, T, P \
	VFMADD213PD  TP0, T, P \
	VFMADD213PD  Z, U, P \
	VMINPD       TCLAMP, Z, T \
	VADDPD       T, T, T \
	EXPREDUCE(T, MAGICT, U, Q) \
	ESTRIN11(T, Q, Y6, Y7, Y8, Y9, EC1, EC2, EC3, EC4, EC5, EC6, EC7, EC8, EC9, EC10, EC11) \
	VPSLLQ       $52, U, U \
	VPADDQ       Y15, U, U \
	VMULPD       U, T, T \
	VADDPD       HALF, U, U \
	VFMADD213PD  U, T, Q \
	VDIVPD       Q, Y15, Q \
	VSUBPD       Q, Y15, Q \
	VCMPPD       $0x1d, SMALLMAX, Z, Z \
	VBLENDVPD    Z, Q, P, P \
	VORPD        X, P, P

// SIG4 sets M = sigmoid(X) (as sigmoid1). Y15 holds 1.0. Clobbers Y, K, R, P and Y6-Y9.
//
// Y = max(-|x|, -746) = k·ln2 + r, P = exp(r) = 1 + r·q, P = u = P·2^(k+64)·2^-64,
// R = d = 1+u, Y = e = (1-d)+u, K = w = 1/d, M = num = (x<0 ? u : 1), P = s0 = num·w,
// M = num - s0·d, M = M - s0·e, M = s0 + w·M; NaN lanes of x are copied through.
#define SIG4(X, Y, K, R, P, M) \
	VORPD        SIGNMASK, X, Y \
	VMAXPD       SCLAMP, Y, Y \
	EXPREDUCE(Y, MAGICS, K, P) \
	ESTRIN11(Y, P, Y6, Y7, Y8, Y9, EC1, EC2, EC3, EC4, EC5, EC6, EC7, EC8, EC9, EC10, EC11) \
	VFMADD213PD  Y15, Y, P \
	VPSLLQ       $52, K, K \
	VPADDQ       K, P, P \
	VMULPD       UNSCALE, P, P \
	VADDPD       Y15, P, R \
	VSUBPD       R, Y15, Y \
	VADDPD       P, Y, Y \
	VDIVPD       R, Y15, K \
	VBLENDVPD    X, P, Y15, M \
	VMULPD       K, M, P \
	VFNMADD231PD P, R, M \
	VFNMADD231PD P, Y, M \
	VFMADD213PD  P, K, M \
	VCMPPD       $3, X, X, R \
	VBLENDVPD    R, X, M, M

// The loops take one vector of 4 per iteration: the two polynomial evaluations use 10
// of the 16 registers, and the out-of-order core overlaps consecutive iterations anyway.

// func tanhAVX2(a, deriv *float64, n int, tab *float64)
TEXT ·tanhAVX2(SB), NOSPLIT, $0-32
	MOVQ    a+0(FP), SI
	MOVQ    deriv+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    tab+24(FP), DX
	VMOVUPD ONE, Y15
	TESTQ   DI, DI
	JZ      tanhLoop

tanhDerivLoop:
	VMOVUPD      (SI), Y0
	TANH4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD      Y4, (SI)
	VMOVAPD      Y15, Y5
	VFNMADD231PD Y4, Y4, Y5 // 1 - y², one rounding
	VMOVUPD      Y5, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	SUBQ         $4, CX
	JNZ          tanhDerivLoop
	VZEROUPPER
	RET

tanhLoop:
	VMOVUPD (SI), Y0
	TANH4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y4, (SI)
	ADDQ    $32, SI
	SUBQ    $4, CX
	JNZ     tanhLoop
	VZEROUPPER
	RET

// func sigmoidAVX2(a, deriv *float64, n int, tab *float64)
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ    a+0(FP), SI
	MOVQ    deriv+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    tab+24(FP), DX
	VMOVUPD ONE, Y15
	TESTQ   DI, DI
	JZ      sigLoop

sigDerivLoop:
	VMOVUPD      (SI), Y0
	SIG4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD      Y5, (SI)
	VMOVAPD      Y5, Y4
	VFNMADD231PD Y5, Y5, Y4 // s - s², one rounding
	VMOVUPD      Y4, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	SUBQ         $4, CX
	JNZ          sigDerivLoop
	VZEROUPPER
	RET

sigLoop:
	VMOVUPD (SI), Y0
	SIG4(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPD Y5, (SI)
	ADDQ    $32, SI
	SUBQ    $4, CX
	JNZ     sigLoop
	VZEROUPPER
	RET
