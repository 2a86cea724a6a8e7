//go:build amd64 && !purego

#include "textflag.h"

// The float32 vector kernels: gemv_amd64.s's float64 ones with eight lanes per ymm, and an
// AVX-512 axpy with sixteen per zmm. Like gemv_amd64.s they are written by hand (asmgen
// writes the micro-kernels only). Each has a Go twin in gemv.go (dotsTwin, axpyTwin,
// rank1Twin), the same sums in the same order with the same FMAs, which the tests hold it
// to bit for bit.

// The reduction of a ymm accumulator of eight floats to its scalar sum in X, folding
// halves: l_i += l_(i+4), then l_i += l_(i+2), then l_0 += l_1 (dotsTwin's fold).
#define HSUM32(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VADDPS       T, X, X;  \
	VMOVHLPS     X, X, T;  \
	VADDPS       T, X, X;  \
	VMOVSHDUP    X, T;     \
	VADDSS       T, X, X

// func dots32AVX2(k int, x, b *float32, ldb, n int, out *float32)
//
// out[j] = Σ_p x[p] b[j*ldb+p] for j < n: four rows of b at a time, each summed in two
// ymm accumulators (even and odd blocks of eight p), then the scalar tail p >= k&^15.
TEXT ·dots32AVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), BX
	MOVQ out+40(FP), DX
	LEAQ (R8)(R8*2), R13
	MOVQ CX, R12
	SHRQ $4, R12               // R12: blocks of 16 p
	MOVQ CX, R11
	ANDQ $15, R11              // R11: tail p

rows4:
	CMPQ   BX, $4
	JLT    rows1
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   R12, AX
	TESTQ  AX, AX
	JZ     reduce4

loop4:
	VMOVUPS     (R9), Y8
	VMOVUPS     32(R9), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R8*1), Y8, Y1
	VFMADD231PS (R10)(R8*2), Y8, Y2
	VFMADD231PS (R10)(R13*1), Y8, Y3
	VFMADD231PS 32(R10), Y9, Y4
	VFMADD231PS 32(R10)(R8*1), Y9, Y5
	VFMADD231PS 32(R10)(R8*2), Y9, Y6
	VFMADD231PS 32(R10)(R13*1), Y9, Y7
	ADDQ        $64, R9
	ADDQ        $64, R10
	DECQ        AX
	JNZ         loop4

reduce4:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	HSUM32(Y0, X0, X8)
	HSUM32(Y1, X1, X8)
	HSUM32(Y2, X2, X8)
	HSUM32(Y3, X3, X8)
	MOVQ   R11, AX
	TESTQ  AX, AX
	JZ     store4

tail4:
	VMOVSS      (R9), X8
	VFMADD231SS (R10), X8, X0
	VFMADD231SS (R10)(R8*1), X8, X1
	VFMADD231SS (R10)(R8*2), X8, X2
	VFMADD231SS (R10)(R13*1), X8, X3
	ADDQ        $4, R9
	ADDQ        $4, R10
	DECQ        AX
	JNZ         tail4

store4:
	VMOVSS X0, (DX)
	VMOVSS X1, 4(DX)
	VMOVSS X2, 8(DX)
	VMOVSS X3, 12(DX)
	ADDQ   $16, DX
	LEAQ   (DI)(R8*4), DI
	SUBQ   $4, BX
	JMP    rows4

rows1:
	TESTQ  BX, BX
	JZ     done
	VXORPS Y0, Y0, Y0
	VXORPS Y4, Y4, Y4
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   R12, AX
	TESTQ  AX, AX
	JZ     reduce1

loop1:
	VMOVUPS     (R9), Y8
	VMOVUPS     32(R9), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y9, Y4
	ADDQ        $64, R9
	ADDQ        $64, R10
	DECQ        AX
	JNZ         loop1

reduce1:
	VADDPS Y4, Y0, Y0
	HSUM32(Y0, X0, X8)
	MOVQ   R11, AX
	TESTQ  AX, AX
	JZ     store1

tail1:
	VMOVSS      (R9), X8
	VFMADD231SS (R10), X8, X0
	ADDQ        $4, R9
	ADDQ        $4, R10
	DECQ        AX
	JNZ         tail1

store1:
	VMOVSS X0, (DX)
	ADDQ   $4, DX
	ADDQ   R8, DI
	DECQ   BX
	JMP    rows1

done:
	VZEROUPPER
	RET

// func axpy32AVX2(k int, x, b *float32, ldb, n int, out *float32)
//
// out[j] = Σ_p x[p] b[p*ldb+j] for j < n, one FMA per p in p order: 64 columns at a time
// in eight ymm accumulators, then 8 at a time, then one at a time.
TEXT ·axpy32AVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), BX
	MOVQ out+40(FP), DX

cols64:
	CMPQ   BX, $64
	JLT    cols8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop64:
	VBROADCASTSS (R9), Y8
	VFMADD231PS  (R10), Y8, Y0
	VFMADD231PS  32(R10), Y8, Y1
	VFMADD231PS  64(R10), Y8, Y2
	VFMADD231PS  96(R10), Y8, Y3
	VFMADD231PS  128(R10), Y8, Y4
	VFMADD231PS  160(R10), Y8, Y5
	VFMADD231PS  192(R10), Y8, Y6
	VFMADD231PS  224(R10), Y8, Y7
	ADDQ         $4, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop64
	VMOVUPS      Y0, (DX)
	VMOVUPS      Y1, 32(DX)
	VMOVUPS      Y2, 64(DX)
	VMOVUPS      Y3, 96(DX)
	VMOVUPS      Y4, 128(DX)
	VMOVUPS      Y5, 160(DX)
	VMOVUPS      Y6, 192(DX)
	VMOVUPS      Y7, 224(DX)
	ADDQ         $256, DX
	ADDQ         $256, DI
	SUBQ         $64, BX
	JMP          cols64

cols8:
	CMPQ   BX, $8
	JLT    cols1
	VXORPS Y0, Y0, Y0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop8:
	VBROADCASTSS (R9), Y8
	VFMADD231PS  (R10), Y8, Y0
	ADDQ         $4, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop8
	VMOVUPS      Y0, (DX)
	ADDQ         $32, DX
	ADDQ         $32, DI
	SUBQ         $8, BX
	JMP          cols8

cols1:
	TESTQ  BX, BX
	JZ     done
	VXORPS X0, X0, X0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop1:
	VMOVSS      (R9), X8
	VFMADD231SS (R10), X8, X0
	ADDQ        $4, R9
	ADDQ        R8, R10
	DECQ        AX
	JNZ         loop1
	VMOVSS      X0, (DX)
	ADDQ        $4, DX
	ADDQ        $4, DI
	DECQ        BX
	JMP         cols1

done:
	VZEROUPPER
	RET

// func rank132AVX2(n int, s float32, b, c *float32, alpha, beta float32)
//
// c[j] = alpha*(s*b[j]) + beta*c[j] for j < n, with the last step an FMA; c is not read
// when beta is zero. Sixteen floats at a time, then eight, then one.
TEXT ·rank132AVX2(SB), NOSPLIT, $0-40
	MOVQ         n+0(FP), CX
	VBROADCASTSS s+8(FP), Y0
	MOVQ         b+16(FP), SI
	MOVQ         c+24(FP), DI
	VBROADCASTSS alpha+32(FP), Y1
	VBROADCASTSS beta+36(FP), Y2
	MOVL         beta+36(FP), AX
	SHLL         $1, AX
	JZ           nobeta

loop16:
	CMPQ        CX, $16
	JLT         loop8
	VMULPS      (SI), Y0, Y3
	VMULPS      32(SI), Y0, Y4
	VMULPS      Y1, Y3, Y3
	VMULPS      Y1, Y4, Y4
	VFMADD231PS (DI), Y2, Y3
	VFMADD231PS 32(DI), Y2, Y4
	VMOVUPS     Y3, (DI)
	VMOVUPS     Y4, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         loop16

loop8:
	CMPQ        CX, $8
	JLT         loop1
	VMULPS      (SI), Y0, Y3
	VMULPS      Y1, Y3, Y3
	VFMADD231PS (DI), Y2, Y3
	VMOVUPS     Y3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX

loop1:
	TESTQ       CX, CX
	JZ          done
	VMULSS      (SI), X0, X3
	VMULSS      X1, X3, X3
	VFMADD231SS (DI), X2, X3
	VMOVSS      X3, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         loop1

nobeta:
	CMPQ    CX, $16
	JLT     nobeta8
	VMULPS  (SI), Y0, Y3
	VMULPS  32(SI), Y0, Y4
	VMULPS  Y1, Y3, Y3
	VMULPS  Y1, Y4, Y4
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     nobeta

nobeta8:
	CMPQ    CX, $8
	JLT     nobeta1
	VMULPS  (SI), Y0, Y3
	VMULPS  Y1, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX

nobeta1:
	TESTQ  CX, CX
	JZ     done
	VMULSS (SI), X0, X3
	VMULSS X1, X3, X3
	VMOVSS X3, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    nobeta1

done:
	VZEROUPPER
	RET

// func axpy32AVX512(k int, x, b *float32, ldb, n int, out *float32)
//
// axpy32AVX2 with zmm registers: 256 columns at a time in sixteen zmm accumulators (a
// kilobyte of each row of b a pass, so that a matrix of long rows is walked in fewer
// passes), then 16 at a time, then one at a time. The sums are the same: one FMA per p in
// p order.
TEXT ·axpy32AVX512(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), BX
	MOVQ out+40(FP), DX

cols256:
	CMPQ   BX, $256
	JLT    cols16
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11
	VPXORQ Z12, Z12, Z12
	VPXORQ Z13, Z13, Z13
	VPXORQ Z14, Z14, Z14
	VPXORQ Z15, Z15, Z15
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop256:
	VBROADCASTSS (R9), Z16
	VFMADD231PS  (R10), Z16, Z0
	VFMADD231PS  64(R10), Z16, Z1
	VFMADD231PS  128(R10), Z16, Z2
	VFMADD231PS  192(R10), Z16, Z3
	VFMADD231PS  256(R10), Z16, Z4
	VFMADD231PS  320(R10), Z16, Z5
	VFMADD231PS  384(R10), Z16, Z6
	VFMADD231PS  448(R10), Z16, Z7
	VFMADD231PS  512(R10), Z16, Z8
	VFMADD231PS  576(R10), Z16, Z9
	VFMADD231PS  640(R10), Z16, Z10
	VFMADD231PS  704(R10), Z16, Z11
	VFMADD231PS  768(R10), Z16, Z12
	VFMADD231PS  832(R10), Z16, Z13
	VFMADD231PS  896(R10), Z16, Z14
	VFMADD231PS  960(R10), Z16, Z15
	ADDQ         $4, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop256
	VMOVUPS      Z0, (DX)
	VMOVUPS      Z1, 64(DX)
	VMOVUPS      Z2, 128(DX)
	VMOVUPS      Z3, 192(DX)
	VMOVUPS      Z4, 256(DX)
	VMOVUPS      Z5, 320(DX)
	VMOVUPS      Z6, 384(DX)
	VMOVUPS      Z7, 448(DX)
	VMOVUPS      Z8, 512(DX)
	VMOVUPS      Z9, 576(DX)
	VMOVUPS      Z10, 640(DX)
	VMOVUPS      Z11, 704(DX)
	VMOVUPS      Z12, 768(DX)
	VMOVUPS      Z13, 832(DX)
	VMOVUPS      Z14, 896(DX)
	VMOVUPS      Z15, 960(DX)
	ADDQ         $1024, DX
	ADDQ         $1024, DI
	SUBQ         $256, BX
	JMP          cols256

cols16:
	CMPQ   BX, $16
	JLT    cols1
	VPXORQ Z0, Z0, Z0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop16:
	VBROADCASTSS (R9), Z16
	VFMADD231PS  (R10), Z16, Z0
	ADDQ         $4, R9
	ADDQ         R8, R10
	DECQ         AX
	JNZ          loop16
	VMOVUPS      Z0, (DX)
	ADDQ         $64, DX
	ADDQ         $64, DI
	SUBQ         $16, BX
	JMP          cols16

cols1:
	TESTQ  BX, BX
	JZ     done
	VXORPS X0, X0, X0
	MOVQ   SI, R9
	MOVQ   DI, R10
	MOVQ   CX, AX

loop1:
	VMOVSS      (R9), X8
	VFMADD231SS (R10), X8, X0
	ADDQ        $4, R9
	ADDQ        R8, R10
	DECQ        AX
	JNZ         loop1
	VMOVSS      X0, (DX)
	ADDQ        $4, DX
	ADDQ        $4, DI
	DECQ        BX
	JMP         cols1

done:
	VZEROUPPER
	RET
