//go:build amd64 && !purego

#include "textflag.h"

// The reduction of a ymm accumulator to its scalar sum, ((y0+y2)+(y1+y3)), in X(r).
#define HSUM(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VADDPD       T, X, X;  \
	VPERMILPD    $1, X, T; \
	VADDSD       T, X, X

// func dotsAVX2(k int, x, b *float64, ldb, n int, out *float64)
//
// out[j] = Σ_p x[p] b[j*ldb+p] for j < n: four rows of b at a time, each summed in two
// ymm accumulators (even and odd blocks of four p), then the scalar tail p >= k&^7.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $3, R8
	MOVQ n+32(FP), BX
	MOVQ out+40(FP), DX
	LEAQ (R8)(R8*2), R13
	MOVQ CX, R12
	SHRQ $3, R12               // R12: blocks of 8 p
	MOVQ CX, R11
	ANDQ $7, R11               // R11: tail p

rows4:
	CMPQ   BX, $4
	JLT    rows1
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   R12, AX
	TESTQ  AX, AX
	JZ     reduce4

loop4:
	VMOVUPD     (R9), Y8
	VMOVUPD     32(R9), Y9
	VFMADD231PD (R10), Y8, Y0
	VFMADD231PD (R10)(R8*1), Y8, Y1
	VFMADD231PD (R10)(R8*2), Y8, Y2
	VFMADD231PD (R10)(R13*1), Y8, Y3
	VFMADD231PD 32(R10), Y9, Y4
	VFMADD231PD 32(R10)(R8*1), Y9, Y5
	VFMADD231PD 32(R10)(R8*2), Y9, Y6
	VFMADD231PD 32(R10)(R13*1), Y9, Y7
	ADDQ        $64, R9
	ADDQ        $64, R10
	DECQ        AX
	JNZ         loop4

reduce4:
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	HSUM(Y0, X0, X8)
	HSUM(Y1, X1, X8)
	HSUM(Y2, X2, X8)
	HSUM(Y3, X3, X8)
	MOVQ   R11, AX
	TESTQ  AX, AX
	JZ     store4

tail4:
	VMOVSD      (R9), X8
	VFMADD231SD (R10), X8, X0
	VFMADD231SD (R10)(R8*1), X8, X1
	VFMADD231SD (R10)(R8*2), X8, X2
	VFMADD231SD (R10)(R13*1), X8, X3
	ADDQ        $8, R9
	ADDQ        $8, R10
	DECQ        AX
	JNZ         tail4

store4:
	VMOVSD X0, (DX)
	VMOVSD X1, 8(DX)
	VMOVSD X2, 16(DX)
	VMOVSD X3, 24(DX)
	ADDQ   $32, DX
	LEAQ   (DI)(R8*4), DI
	SUBQ   $4, BX
	JMP    rows4

rows1:
	TESTQ  BX, BX
	JZ     done
	VXORPD Y0, Y0, Y0
	VXORPD Y4, Y4, Y4
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   R12, AX
	TESTQ  AX, AX
	JZ     reduce1

loop1:
	VMOVUPD     (R9), Y8
	VMOVUPD     32(R9), Y9
	VFMADD231PD (R10), Y8, Y0
	VFMADD231PD 32(R10), Y9, Y4
	ADDQ        $64, R9
	ADDQ        $64, R10
	DECQ        AX
	JNZ         loop1

reduce1:
	VADDPD Y4, Y0, Y0
	HSUM(Y0, X0, X8)
	MOVQ   R11, AX
	TESTQ  AX, AX
	JZ     store1

tail1:
	VMOVSD      (R9), X8
	VFMADD231SD (R10), X8, X0
	ADDQ        $8, R9
	ADDQ        $8, R10
	DECQ        AX
	JNZ         tail1

store1:
	VMOVSD X0, (DX)
	ADDQ   $8, DX
	ADDQ   R8, DI
	DECQ   BX
	JMP    rows1

done:
	VZEROUPPER
	RET

// func axpyAVX2(k int, x, b *float64, ldb, n int, out *float64)
//
// out[j] = Σ_p x[p] b[p*ldb+j] for j < n, summed in p order: 32 columns at a time in eight
// ymm accumulators, then 4 at a time, then one at a time.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $3, R8
	MOVQ n+32(FP), BX
	MOVQ out+40(FP), DX

cols32:
	CMPQ   BX, $32
	JLT    cols4
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop32:
	VBROADCASTSD (R9), Y8
	VFMADD231PD  (R10), Y8, Y0
	VFMADD231PD  32(R10), Y8, Y1
	VFMADD231PD  64(R10), Y8, Y2
	VFMADD231PD  96(R10), Y8, Y3
	VFMADD231PD  128(R10), Y8, Y4
	VFMADD231PD  160(R10), Y8, Y5
	VFMADD231PD  192(R10), Y8, Y6
	VFMADD231PD  224(R10), Y8, Y7
	ADDQ         $8, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop32
	VMOVUPD      Y0, (DX)
	VMOVUPD      Y1, 32(DX)
	VMOVUPD      Y2, 64(DX)
	VMOVUPD      Y3, 96(DX)
	VMOVUPD      Y4, 128(DX)
	VMOVUPD      Y5, 160(DX)
	VMOVUPD      Y6, 192(DX)
	VMOVUPD      Y7, 224(DX)
	ADDQ         $256, DX
	ADDQ         $256, DI
	SUBQ         $32, BX
	JMP          cols32

cols4:
	CMPQ   BX, $4
	JLT    cols1
	VXORPD Y0, Y0, Y0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop4:
	VBROADCASTSD (R9), Y8
	VFMADD231PD  (R10), Y8, Y0
	ADDQ         $8, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop4
	VMOVUPD      Y0, (DX)
	ADDQ         $32, DX
	ADDQ         $32, DI
	SUBQ         $4, BX
	JMP          cols4

cols1:
	TESTQ  BX, BX
	JZ     done
	VXORPD X0, X0, X0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop1:
	VMOVSD      (R9), X8
	VFMADD231SD (R10), X8, X0
	ADDQ        $8, R9
	ADDQ        R8, R10
	DECQ        AX
	JNZ         loop1
	VMOVSD      X0, (DX)
	ADDQ        $8, DX
	ADDQ        $8, DI
	DECQ        BX
	JMP         cols1

done:
	VZEROUPPER
	RET

// func rank1AVX2(n int, s float64, b, c *float64, alpha, beta float64)
//
// c[j] = alpha*(s*b[j]) + beta*c[j] for j < n, with the last step an FMA; c is not read
// when beta is zero. Four doubles at a time, then one at a time.
TEXT ·rank1AVX2(SB), NOSPLIT, $0-48
	MOVQ         n+0(FP), CX
	VBROADCASTSD s+8(FP), Y0
	MOVQ         b+16(FP), SI
	MOVQ         c+24(FP), DI
	VBROADCASTSD alpha+32(FP), Y1
	VBROADCASTSD beta+40(FP), Y2
	MOVQ         beta+40(FP), AX
	SHLQ         $1, AX
	JZ           nobeta

loop4:
	CMPQ        CX, $4
	JLT         loop1
	VMULPD      (SI), Y0, Y3
	VMULPD      Y1, Y3, Y3
	VFMADD231PD (DI), Y2, Y3
	VMOVUPD     Y3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JMP         loop4

loop1:
	TESTQ       CX, CX
	JZ          done
	VMULSD      (SI), X0, X3
	VMULSD      X1, X3, X3
	VFMADD231SD (DI), X2, X3
	VMOVSD      X3, (DI)
	ADDQ        $8, SI
	ADDQ        $8, DI
	DECQ        CX
	JMP         loop1

nobeta:
	CMPQ    CX, $4
	JLT     nobeta1
	VMULPD  (SI), Y0, Y3
	VMULPD  Y1, Y3, Y3
	VMOVUPD Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $4, CX
	JMP     nobeta

nobeta1:
	TESTQ  CX, CX
	JZ     done
	VMULSD (SI), X0, X3
	VMULSD X1, X3, X3
	VMOVSD X3, (DI)
	ADDQ   $8, SI
	ADDQ   $8, DI
	DECQ   CX
	JMP    nobeta1

done:
	VZEROUPPER
	RET
