//go:build !purego

#include "textflag.h"

// Byte offsets of the rows of asmTable32 (see vmath32_amd64.go), addressed from DX.
#define ABSMASK   0(DX)
#define SIGNMASK  32(DX)
#define ONE       64(DX)
#define HALF      96(DX)
#define SMALLMAX  128(DX)
#define TCLAMP    160(DX)
#define LOG2E     192(DX)
#define MAGICT    224(DX)
#define MAGICS    256(DX)
#define LN2HI     288(DX)
#define LN2LO     320(DX)
#define SCLAMP    352(DX)
#define UNSCALE   384(DX)
#define W0        416(DX)
#define W1        448(DX)
#define W2        480(DX)
#define W3        512(DX)
#define W4        544(DX)
#define TP0       576(DX)
#define TP1       608(DX)
#define TP2       640(DX)
#define TP3       672(DX)
#define TP4       704(DX)
#define TP5       736(DX)

// EXPREDUCE32 is expReduce32: K = Y·log2e + MAGIC (rounded, its low bits hold k plus the
// bias), S = k, Y = (Y - k·ln2Hi) - k·ln2Lo, the first step exact.
#define EXPREDUCE32(Y, MAGIC, K, S) \
	VMOVUPS      MAGIC, K \
	VFMADD231PS  LOG2E, Y, K \
	VSUBPS       MAGIC, K, S \
	VFNMADD231PS LN2HI, S, Y \
	VFNMADD231PS LN2LO, S, Y

// EXPQ32 is expQ32: OUT = ((((W4·R + W3)·R + W2)·R + W1)·R + W0)·R + 1/2)·R + 1.
#define EXPQ32(R, OUT) \
	VMOVUPS     W4, OUT \
	VFMADD213PS W3, R, OUT \
	VFMADD213PS W2, R, OUT \
	VFMADD213PS W1, R, OUT \
	VFMADD213PS W0, R, OUT \
	VFMADD213PS HALF, R, OUT \
	VFMADD213PS Y15, R, OUT

// TANH8 is tanh32 in 8 lanes: it replaces the lanes of X by their sign bits and sets
// P = tanh(X). Y15 holds 1.0. Clobbers Z, T, U, Q.
//
// Z = |x|, X = sign bits, T = z², U = z³, P = z + z³·P(z²) (the result below 0.625).
// Then T = 2·min(z, 10) = k·ln2 + r, Q = q(r), U = 2^(k-1) (1.0 plus (k-1)<<23),
// T = r·2^(k-1), U = 2^(k-1) + 1/2, Q = h = T·q + U (one rounding), Q = 1 - 1/h.
// Z = (z >= 0.625), false for NaN, which the polynomial branch propagates.
#define TANH8(X, Z, T, U, P, Q) \
	VANDPS       ABSMASK, X, Z \
	VXORPS       Z, X, X \
	VMULPS       Z, Z, T \
	VMULPS       T, Z, U \
	VMOVUPS      TP5, P \
	VFMADD213PS  TP4, T, P \
	VFMADD213PS  TP3, T, P \
	VFMADD213PS  TP2, T, P \
	VFMADD213PS  TP1, T, P \
	VFMADD213PS  TP0, T, P \
	VFMADD213PS  Z, U, P \
	VMINPS       TCLAMP, Z, T \
	VADDPS       T, T, T \
	EXPREDUCE32(T, MAGICT, U, Q) \
	EXPQ32(T, Q) \
	VPSLLD       $23, U, U \
	VPADDD       Y15, U, U \
	VMULPS       U, T, T \
	VADDPS       HALF, U, U \
	VFMADD213PS  U, T, Q \
	VDIVPS       Q, Y15, Q \
	VSUBPS       Q, Y15, Q \
	VCMPPS       $0x1d, SMALLMAX, Z, Z \
	VBLENDVPS    Z, Q, P, P \
	VORPS        X, P, P

// SIG8 is sigmoid32 in 8 lanes: M = sigmoid(X). Y15 holds 1.0. Clobbers Y, K, R, P.
//
// Y = max(-|x|, -104) = k·ln2 + r, P = exp(r) = 1 + r·q, P = u = P·2^(k+32)·2^-32,
// R = d = 1+u, Y = e = (1-d)+u, K = w = 1/d, M = num = (x<0 ? u : 1), P = s0 = num·w,
// M = num - s0·d, M = M - s0·e, M = s0 + w·M; NaN lanes of x are copied through.
#define SIG8(X, Y, K, R, P, M) \
	VORPS        SIGNMASK, X, Y \
	VMAXPS       SCLAMP, Y, Y \
	EXPREDUCE32(Y, MAGICS, K, P) \
	EXPQ32(Y, P) \
	VFMADD213PS  Y15, Y, P \
	VPSLLD       $23, K, K \
	VPADDD       K, P, P \
	VMULPS       UNSCALE, P, P \
	VADDPS       Y15, P, R \
	VSUBPS       R, Y15, Y \
	VADDPS       P, Y, Y \
	VDIVPS       R, Y15, K \
	VBLENDVPS    X, P, Y15, M \
	VMULPS       K, M, P \
	VFNMADD231PS P, R, M \
	VFNMADD231PS P, Y, M \
	VFMADD213PS  P, K, M \
	VCMPPS       $3, X, X, R \
	VBLENDVPS    R, X, M, M

// func tanh32AVX2(a, deriv *float32, n int, tab *float32)
TEXT ·tanh32AVX2(SB), NOSPLIT, $0-32
	MOVQ    a+0(FP), SI
	MOVQ    deriv+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    tab+24(FP), DX
	VMOVUPS ONE, Y15
	TESTQ   DI, DI
	JZ      tanhLoop

tanhDerivLoop:
	VMOVUPS      (SI), Y0
	TANH8(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPS      Y4, (SI)
	VMOVAPS      Y15, Y5
	VFNMADD231PS Y4, Y4, Y5 // 1 - y², one rounding
	VMOVUPS      Y5, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	SUBQ         $8, CX
	JNZ          tanhDerivLoop
	VZEROUPPER
	RET

tanhLoop:
	VMOVUPS (SI), Y0
	TANH8(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPS Y4, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     tanhLoop
	VZEROUPPER
	RET

// func sigmoid32AVX2(a, deriv *float32, n int, tab *float32)
TEXT ·sigmoid32AVX2(SB), NOSPLIT, $0-32
	MOVQ    a+0(FP), SI
	MOVQ    deriv+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    tab+24(FP), DX
	VMOVUPS ONE, Y15
	TESTQ   DI, DI
	JZ      sigLoop

sigDerivLoop:
	VMOVUPS      (SI), Y0
	SIG8(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPS      Y5, (SI)
	VMOVAPS      Y5, Y4
	VFNMADD231PS Y5, Y5, Y4 // s - s², one rounding
	VMOVUPS      Y4, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	SUBQ         $8, CX
	JNZ          sigDerivLoop
	VZEROUPPER
	RET

sigLoop:
	VMOVUPS (SI), Y0
	SIG8(Y0, Y1, Y2, Y3, Y4, Y5)
	VMOVUPS Y5, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     sigLoop
	VZEROUPPER
	RET
