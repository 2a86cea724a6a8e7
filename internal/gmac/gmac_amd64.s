//go:build !purego

#include "textflag.h"

// GHASH four blocks at a time with VPCLMULQDQ on ZMM registers (gmac_amd64.go,
// docs/design.md §9). Blocks are byte-swapped as they are loaded, so that each reads
// as a 128-bit integer with the coefficient of x^i in bit 127-i; the powers of H in
// the table are in that form already, times x^-1 (gmac.go's fillTable). The product
// of a block a and a power h is Karatsuba's: lo = a0·h0, hi = a1·h1 and
// mid = (a0+a1)·(h0+h1) + lo + hi (a0, h0 the low quadwords; h0+h1 is in the table's
// second half), three multiplications instead of four, since VPCLMULQDQ is what
// bounds the loop. The products of 32 blocks by H^32 .. H^1 are summed before one
// reduction, the Montgomery-style reduction of Go's gcm_amd64.s (after Gueron): the
// low 128 bits of the 256-bit sum are folded twice, 64 bits a time, by carry-less
// multiplication with 0xc2<<56, and added to the high 128 bits. The same loop on YMM
// registers (two blocks an instruction) ran at about 18 GB/s against this one's 23
// (BenchmarkTag's 128 KiB, alternated runs on a shared 2-core AMD EPYC), so ZMM it is.
//
// Registers: Z31 the byte-swap mask in each lane, X14 the reduction constant in both
// quadwords, Z16..Z23 H^32..H^1 (four per register, the first block's power in lane
// 0), X0 the running hash y (lanes 1-3 zero), Z1, Z2, Z3 the sums of lo, hi and
// Karatsuba's middle products (to which REDUCE adds lo and hi).

DATA bswapMask<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+8(SB)/8, $0x0001020304050607
GLOBL bswapMask<>(SB), RODATA|NOPTR, $16

DATA gcmPoly<>+0(SB)/8, $0xc200000000000000
GLOBL gcmPoly<>(SB), RODATA|NOPTR, $8

// MULFIRST sets Z1, Z2, Z3 to the lo, hi and Karatsuba middle products of the
// blocks in D and the powers in P, whose quadwords' sums are in K (fillTable):
// (d0+d1)·(h0+h1), which REDUCE turns into mid by adding lo and hi. Three
// multiplications a block instead of four: VPCLMULQDQ is what bounds the loop.
#define MULFIRST(P, K, D) \
	VPCLMULQDQ $0x00, P, D, Z1 \
	VPCLMULQDQ $0x11, P, D, Z2 \
	VPSHUFD    $0x4e, D, Z4    \
	VPXORQ     D, Z4, Z4       \
	VPCLMULQDQ $0x00, K, Z4, Z3

// MULACC adds the products of D and P (and K) to Z1, Z2, Z3.
#define MULACC(P, K, D) \
	VPCLMULQDQ $0x00, P, D, Z4 \
	VPCLMULQDQ $0x11, P, D, Z5 \
	VPSHUFD    $0x4e, D, Z6    \
	VPXORQ     D, Z6, Z6       \
	VPCLMULQDQ $0x00, K, Z6, Z7 \
	VPXORQ     Z4, Z1, Z1      \
	VPXORQ     Z5, Z2, Z2      \
	VPXORQ     Z7, Z3, Z3

// REDUCE sums the four lanes of the products in Z1, Z2, Z3 and reduces the sum
// into X0 (lanes 1-3 zero: VEX instructions clear them).
#define REDUCE \
	VPTERNLOGQ    $0x96, Z1, Z2, Z3 \
	VPSLLDQ       $8, Z3, Z4  \
	VPSRLDQ       $8, Z3, Z3  \
	VPXORQ        Z4, Z1, Z1  \
	VPXORQ        Z3, Z2, Z2  \
	VEXTRACTI64X4 $1, Z1, Y4  \
	VEXTRACTI64X4 $1, Z2, Y5  \
	VPXOR         Y4, Y1, Y1  \
	VPXOR         Y5, Y2, Y2  \
	VEXTRACTI128  $1, Y1, X4  \
	VEXTRACTI128  $1, Y2, X5  \
	VPXOR         X4, X1, X1  \
	VPXOR         X5, X2, X2  \
	VPCLMULQDQ    $0x00, X14, X1, X4 \
	VPSHUFD       $0x4e, X1, X1 \
	VPXOR         X4, X1, X1  \
	VPCLMULQDQ    $0x00, X14, X1, X4 \
	VPSHUFD       $0x4e, X1, X1 \
	VPTERNLOGQ    $0x96, X4, X1, X2 \
	VMOVDQA       X2, X0

// func ghashAVX512(table *[1024]byte, y *[16]byte, data []byte)
TEXT ·ghashAVX512(SB), NOSPLIT, $0-40
	MOVQ table+0(FP), DI
	MOVQ y+8(FP), DX
	MOVQ data_base+16(FP), SI
	MOVQ data_len+24(FP), CX
	SHRQ $4, CX // whole blocks

	VBROADCASTI32X4 bswapMask<>(SB), Z31
	VPBROADCASTQ    gcmPoly<>(SB), X14
	VMOVDQU         (DX), X0
	VPSHUFB         X31, X0, X0
	VMOVDQU64       0(DI), Z16
	VMOVDQU64       64(DI), Z17
	VMOVDQU64       128(DI), Z18
	VMOVDQU64       192(DI), Z19
	VMOVDQU64       256(DI), Z20
	VMOVDQU64       320(DI), Z21
	VMOVDQU64       384(DI), Z22
	VMOVDQU64       448(DI), Z23

loop32:
	// The products of blocks 4..31 first, so that the running hash, which
	// waits on the last reduction, joins only with blocks 0..3.
	CMPQ      CX, $32
	JB        tail
	VMOVDQU64 64(SI), Z9
	VMOVDQU64 128(SI), Z10
	VMOVDQU64 192(SI), Z11
	VMOVDQU64 256(SI), Z12
	VMOVDQU64 320(SI), Z13
	VMOVDQU64 384(SI), Z24
	VMOVDQU64 448(SI), Z25
	VMOVDQU64 0(SI), Z8
	VPSHUFB   Z31, Z9, Z9
	VPSHUFB   Z31, Z10, Z10
	VPSHUFB   Z31, Z11, Z11
	VPSHUFB   Z31, Z12, Z12
	VPSHUFB   Z31, Z13, Z13
	VPSHUFB   Z31, Z24, Z24
	VPSHUFB   Z31, Z25, Z25
	VPSHUFB   Z31, Z8, Z8
	MULFIRST(Z17, 576(DI), Z9)
	MULACC(Z18, 640(DI), Z10)
	MULACC(Z19, 704(DI), Z11)
	MULACC(Z20, 768(DI), Z12)
	MULACC(Z21, 832(DI), Z13)
	MULACC(Z22, 896(DI), Z24)
	MULACC(Z23, 960(DI), Z25)
	VPXORQ    Z0, Z8, Z8
	MULACC(Z16, 512(DI), Z8)
	REDUCE
	ADDQ      $512, SI
	SUBQ      $32, CX
	JMP       loop32

tail:
	// The last n < 32 blocks: block i takes H^(n-i), table entry 32-n+i, so
	// that AX walks the table from entry 32-n as SI walks the blocks.
	TESTQ  CX, CX
	JZ     done
	MOVQ   $32, AX
	SUBQ   CX, AX
	SHLQ   $4, AX
	ADDQ   DI, AX
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3

tail4:
	CMPQ      CX, $4
	JB        tailpart
	VMOVDQU64 (SI), Z8
	VPSHUFB   Z31, Z8, Z8
	VPXORQ    Z0, Z8, Z8
	VPXORQ    Z0, Z0, Z0 // y is in the first block only
	VMOVDQU64 (AX), Z9
	MULACC(Z9, 512(AX), Z8)
	ADDQ      $64, SI
	ADDQ      $64, AX
	SUBQ      $4, CX
	JMP       tail4

tailpart:
	// 1 to 3 blocks: masked loads (two quadwords a block) read nothing past
	// the data or the table, and zero the lanes they do not load.
	TESTQ       CX, CX
	JZ          tailreduce
	ADDQ        CX, CX
	MOVL        $1, BX
	SHLL        CX, BX
	DECL        BX
	KMOVW       BX, K1
	VMOVDQU64.Z (SI), K1, Z8
	VMOVDQU64.Z (AX), K1, Z9
	VMOVDQU64.Z 512(AX), K1, Z10
	VPSHUFB     Z31, Z8, Z8
	VPXORQ      Z0, Z8, Z8
	MULACC(Z9, Z10, Z8)

tailreduce:
	REDUCE

done:
	VPSHUFB X31, X0, X0
	VMOVDQU X0, (DX)
	VZEROUPPER
	RET
