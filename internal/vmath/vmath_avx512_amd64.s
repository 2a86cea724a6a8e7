//go:build !purego

#include "textflag.h"

#include "asmtable_amd64.h"

// AVX-512 versions of the kernels in vmath_amd64.s: the same operations in the same order
// on 8 lanes, constants broadcast from the first lane of each table row, compare results
// in mask registers, and the last n%8 elements done under a mask (masked-off lanes are
// neither loaded nor stored). Z31 holds 1.0 throughout.

// EXPREDUCE8 is EXPREDUCE on 8 lanes.
#define EXPREDUCE8(Y, MAGIC, K, S) \
	VBROADCASTSD      MAGIC, K \
	VFMADD231PD.BCST  LOG2E, Y, K \
	VSUBPD.BCST       MAGIC, K, S \
	VFNMADD231PD.BCST LN2HI, S, Y \
	VFNMADD231PD.BCST LN2LO, S, Y

// ESTRIN11x8 is ESTRIN11 on 8 lanes.
#define ESTRIN11x8(R, OUT, R2, R4, S1, S2, C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10) \
	VMULPD           R, R, R2 \
	VMULPD           R2, R2, R4 \
	VBROADCASTSD     C1, OUT \
	VFMADD213PD.BCST C0, R, OUT \
	VBROADCASTSD     C3, S1 \
	VFMADD213PD.BCST C2, R, S1 \
	VFMADD231PD      S1, R2, OUT \
	VBROADCASTSD     C5, S1 \
	VFMADD213PD.BCST C4, R, S1 \
	VBROADCASTSD     C7, S2 \
	VFMADD213PD.BCST C6, R, S2 \
	VFMADD231PD      S2, R2, S1 \
	VBROADCASTSD     C9, S2 \
	VFMADD213PD.BCST C8, R, S2 \
	VFMADD231PD.BCST C10, R2, S2 \
	VFMADD213PD      S1, R4, S2 \
	VFMADD231PD      S2, R4, OUT

// TANH8 is TANH4 on 8 lanes, with the branch mask in KM.
#define TANH8(X, Z, T, U, P, Q, R2, R4, S1, S2, KM) \
	VPANDQ.BCST      ABSMASK, X, Z \
	VPXORQ           Z, X, X \
	VMULPD           Z, Z, T \
	VMULPD           T, Z, U \
	VBROADCASTSD     TP10, P \
	VFMADD213PD.BCST TP9, T, P \
	VFMADD213PD.BCST TP8, T, P \
	VFMADD213PD.BCST TP7, T, P \
	VFMADD213PD.BCST TP6, T, P \
	VFMADD213PD.BCST TP5, T, P \
	VFMADD213PD.BCST TP4, T, P \
	VFMADD213PD.BCST TP3, T, P \
	VFMADD213PD.BCST TP2, T, P \
	VFMADD213PD.BCST TP1, T, P \
	VFMADD213PD.BCST TP0, T, P \
	VFMADD213PD      Z, U, P \
	VMINPD.BCST      TCLAMP, Z, T \
	VADDPD           T, T, T \
	EXPREDUCE8(T, MAGICT, U, Q) \
	ESTRIN11x8(T, Q, R2, R4, S1, S2, EC1, EC2, EC3, EC4, EC5, EC6, EC7, EC8, EC9, EC10, EC11) \
	VPSLLQ           $52, U, U \
	VPADDQ           Z31, U, U \
	VMULPD           U, T, T \
	VADDPD.BCST      HALF, U, U \
	VFMADD213PD      U, T, Q \
	VDIVPD           Q, Z31, Q \
	VSUBPD           Q, Z31, Q \
	VCMPPD.BCST      $0x1d, SMALLMAX, Z, KM \
	VBLENDMPD        Q, P, KM, P \
	VPORQ            X, P, P

// SIG8 is SIG4 on 8 lanes; KM is scratch.
#define SIG8(X, Y, K, R, P, M, R2, R4, S1, S2, KM) \
	VPORQ.BCST        SIGNMASK, X, Y \
	VMAXPD.BCST       SCLAMP, Y, Y \
	EXPREDUCE8(Y, MAGICS, K, P) \
	ESTRIN11x8(Y, P, R2, R4, S1, S2, EC1, EC2, EC3, EC4, EC5, EC6, EC7, EC8, EC9, EC10, EC11) \
	VFMADD213PD       Z31, Y, P \
	VPSLLQ            $52, K, K \
	VPADDQ            K, P, P \
	VMULPD.BCST       UNSCALE, P, P \
	VADDPD            Z31, P, R \
	VSUBPD            R, Z31, Y \
	VADDPD            P, Y, Y \
	VDIVPD            R, Z31, K \
	VPMOVQ2M          X, KM \
	VMOVAPD           Z31, M \
	VMOVAPD           P, KM, M \
	VMULPD            K, M, P \
	VFNMADD231PD      P, R, M \
	VFNMADD231PD      P, Y, M \
	VFMADD213PD       P, K, M \
	VCMPPD            $3, X, X, KM \
	VMOVAPD           X, KM, M

// TAILMASK sets K3 to the low min(BX, 8) bits and BX to min(BX, 8). Clobbers AX, CX.
#define TAILMASK \
	MOVQ  $8, CX \
	CMPQ  BX, CX \
	CMOVQLT BX, CX \
	MOVQ  CX, BX \
	MOVL  $1, AX \
	SHLL  CX, AX \
	DECL  AX \
	KMOVW AX, K3

// func tanhAVX512(a, deriv *float64, n int, tab *float64)
TEXT ·tanhAVX512(SB), NOSPLIT, $0-32
	MOVQ         a+0(FP), SI
	MOVQ         deriv+8(FP), DI
	MOVQ         n+16(FP), BX
	MOVQ         tab+24(FP), DX
	VBROADCASTSD ONE, Z31

tanhLoop16:
	CMPQ    BX, $16
	JLT     tanhTail
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z10
	TANH8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, K1)
	TANH8(Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, K2)
	VMOVUPD Z4, (SI)
	VMOVUPD Z14, 64(SI)
	ADDQ    $128, SI
	SUBQ    $16, BX
	TESTQ   DI, DI
	JZ      tanhLoop16
	VMOVAPD      Z31, Z5
	VFNMADD231PD Z4, Z4, Z5
	VMOVAPD      Z31, Z15
	VFNMADD231PD Z14, Z14, Z15
	VMOVUPD      Z5, (DI)
	VMOVUPD      Z15, 64(DI)
	ADDQ         $128, DI
	JMP          tanhLoop16

tanhTail:
	TESTQ BX, BX
	JZ    tanhDone
	MOVQ  BX, R8
	TAILMASK
	VMOVUPD.Z (SI), K3, Z0
	TANH8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, K1)
	VMOVUPD Z4, K3, (SI)
	TESTQ   DI, DI
	JZ      tanhTailNext
	VMOVAPD      Z31, Z5
	VFNMADD231PD Z4, Z4, Z5
	VMOVUPD      Z5, K3, (DI)
	ADDQ         $64, DI

tanhTailNext:
	ADDQ  $64, SI
	SUBQ  BX, R8
	MOVQ  R8, BX
	JMP   tanhTail

tanhDone:
	VZEROUPPER
	RET

// func sigmoidAVX512(a, deriv *float64, n int, tab *float64)
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-32
	MOVQ         a+0(FP), SI
	MOVQ         deriv+8(FP), DI
	MOVQ         n+16(FP), BX
	MOVQ         tab+24(FP), DX
	VBROADCASTSD ONE, Z31

sigLoop16:
	CMPQ    BX, $16
	JLT     sigTail
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z10
	SIG8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, K1)
	SIG8(Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, K2)
	VMOVUPD Z5, (SI)
	VMOVUPD Z15, 64(SI)
	ADDQ    $128, SI
	SUBQ    $16, BX
	TESTQ   DI, DI
	JZ      sigLoop16
	VMOVAPD      Z5, Z4
	VFNMADD231PD Z5, Z5, Z4
	VMOVAPD      Z15, Z14
	VFNMADD231PD Z15, Z15, Z14
	VMOVUPD      Z4, (DI)
	VMOVUPD      Z14, 64(DI)
	ADDQ         $128, DI
	JMP          sigLoop16

sigTail:
	TESTQ BX, BX
	JZ    sigDone
	MOVQ  BX, R8
	TAILMASK
	VMOVUPD.Z (SI), K3, Z0
	SIG8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, K1)
	VMOVUPD Z5, K3, (SI)
	TESTQ   DI, DI
	JZ      sigTailNext
	VMOVAPD      Z5, Z4
	VFNMADD231PD Z5, Z5, Z4
	VMOVUPD      Z4, K3, (DI)
	ADDQ         $64, DI

sigTailNext:
	ADDQ  $64, SI
	SUBQ  BX, R8
	MOVQ  R8, BX
	JMP   sigTail

sigDone:
	VZEROUPPER
	RET
