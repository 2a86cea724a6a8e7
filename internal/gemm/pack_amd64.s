//go:build amd64 && !purego

#include "textflag.h"

// func packInterleave4(dst, src *float64, ld, kc4, rows, r, pf int)
//
// Transposes rows (even, at most r) rows of 4*kc4 values at src, row stride ld, into
// dst[p*r+i]: 4x4 blocks with unpack and 128-bit lane permutes, then a final pair of rows.
// Each source load is paired with a prefetch into L2 of the address pf bytes further on,
// where the caller expects to read next; pf = 0 prefetches nothing new.
TEXT ·packInterleave4(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $3, R8                // R8: source row stride in bytes
	MOVQ kc4+24(FP), CX
	MOVQ rows+32(FP), BX       // BX: rows left
	MOVQ r+40(FP), R9
	SHLQ $3, R9                // R9: packed row (one p) in bytes
	LEAQ (R9)(R9*2), R14       // R14: 3 packed rows
	MOVQ R9, R10
	SHLQ $2, R10               // R10: 4 packed rows
	LEAQ (R8)(R8*2), R13       // R13: 3 source rows
	MOVQ pf+48(FP), R15        // R15: prefetch offset in bytes

group4:
	CMPQ BX, $4
	JLT  group2
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ CX, DX

loop4:
	PREFETCHT1 (R11)(R15*1)
	LEAQ       (R11)(R15*1), AX
	PREFETCHT1 (AX)(R8*1)
	PREFETCHT1 (AX)(R8*2)
	PREFETCHT1 (AX)(R13*1)
	VMOVUPD    (R11), Y0
	VMOVUPD    (R11)(R8*1), Y1
	VMOVUPD    (R11)(R8*2), Y2
	VMOVUPD    (R11)(R13*1), Y3
	VUNPCKLPD  Y1, Y0, Y4
	VUNPCKHPD  Y1, Y0, Y5
	VUNPCKLPD  Y3, Y2, Y6
	VUNPCKHPD  Y3, Y2, Y7
	VPERM2F128 $0x20, Y6, Y4, Y0
	VPERM2F128 $0x20, Y7, Y5, Y1
	VPERM2F128 $0x31, Y6, Y4, Y2
	VPERM2F128 $0x31, Y7, Y5, Y3
	VMOVUPD    Y0, (R12)
	VMOVUPD    Y1, (R12)(R9*1)
	VMOVUPD    Y2, (R12)(R9*2)
	VMOVUPD    Y3, (R12)(R14*1)
	ADDQ       $32, R11
	ADDQ       R10, R12
	DECQ       DX
	JNZ        loop4

	LEAQ (SI)(R8*4), SI
	ADDQ $32, DI
	SUBQ $4, BX
	JMP  group4

group2:
	CMPQ BX, $2
	JLT  done
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ CX, DX

loop2:
	PREFETCHT1   (R11)(R15*1)
	LEAQ         (R11)(R15*1), AX
	PREFETCHT1   (AX)(R8*1)
	VMOVUPD      (R11), Y0
	VMOVUPD      (R11)(R8*1), Y1
	VUNPCKLPD    Y1, Y0, Y4
	VUNPCKHPD    Y1, Y0, Y5
	VEXTRACTF128 $1, Y4, X6
	VEXTRACTF128 $1, Y5, X7
	VMOVUPD      X4, (R12)
	VMOVUPD      X5, (R12)(R9*1)
	VMOVUPD      X6, (R12)(R9*2)
	VMOVUPD      X7, (R12)(R14*1)
	ADDQ         $32, R11
	ADDQ         R10, R12
	DECQ         DX
	JNZ          loop2

done:
	VZEROUPPER
	RET

// func packCopy4(dst, src *float64, ld, kc, r, pf int)
//
// Copies kc rows of r values (r even) at src, row stride ld, to dst[p*r : p*r+r], and
// prefetches into L2 the first and last of the r values pf bytes on in each row.
TEXT ·packCopy4(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $3, R8
	MOVQ kc+24(FP), CX
	MOVQ r+32(FP), R9
	MOVQ R9, R10
	SHRQ $2, R10               // R10: ymm chunks per row
	ANDQ $2, R9                // R9: 2 if a trailing pair remains
	MOVQ r+32(FP), R12
	LEAQ -8(R12*8), R12
	ADDQ pf+40(FP), R12        // R12: pf + 8(r-1), the last prefetched value

row:
	MOVQ       pf+40(FP), AX
	PREFETCHT1 (SI)(AX*1)
	PREFETCHT1 (SI)(R12*1)
	MOVQ       SI, R11
	MOVQ R10, DX
	TESTQ DX, DX
	JZ   pair

chunk:
	VMOVUPD (R11), Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, R11
	ADDQ    $32, DI
	DECQ    DX
	JNZ     chunk

pair:
	TESTQ   R9, R9
	JZ      next
	VMOVUPD (R11), X0
	VMOVUPD X0, (DI)
	ADDQ    $16, DI

next:
	ADDQ R8, SI
	DECQ CX
	JNZ  row
	VZEROUPPER
	RET

// func packCopy8f32(dst, src *float32, ld, kc, r, pf int)
//
// packCopy4 for float32: copies kc rows of r values (r a multiple of 8) at src, row stride
// ld, to dst[p*r : p*r+r], and prefetches into L2 the first and last of the r values pf
// bytes on in each row.
TEXT ·packCopy8f32(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                // R8: source row stride in bytes
	MOVQ kc+24(FP), CX
	MOVQ r+32(FP), R10
	SHRQ $3, R10               // R10: ymm chunks per row
	MOVQ r+32(FP), R12
	LEAQ -4(R12*4), R12
	MOVQ pf+40(FP), AX         // AX: the first prefetched value
	ADDQ AX, R12               // R12: pf + 4(r-1), the last prefetched value

row32:
	PREFETCHT1 (SI)(AX*1)
	PREFETCHT1 (SI)(R12*1)
	MOVQ       SI, R11
	MOVQ       R10, DX

chunk32:
	VMOVUPS (R11), Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, R11
	ADDQ    $32, DI
	DECQ    DX
	JNZ     chunk32

	ADDQ R8, SI
	DECQ CX
	JNZ  row32
	VZEROUPPER
	RET

// func packInterleave8f32(dst, src *float32, ld, kc8, rows, r, pf int)
//
// packInterleave4 for float32: transposes rows (a multiple of 4, at most r) rows of 8*kc8
// values of src (row stride ld) into dst[p*r+i], 4 rows by 8 p at a time: unpacks of
// pairs, then of pairs of pairs, leave p and p+4 in the two halves of a ymm register.
// Each source load is paired with a prefetch into L2 of the address pf bytes further on.
TEXT ·packInterleave8f32(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8                // R8: source row stride in bytes
	MOVQ kc8+24(FP), CX
	MOVQ rows+32(FP), BX       // BX: rows left
	MOVQ r+40(FP), R9
	SHLQ $2, R9                // R9: packed row (one p) in bytes
	LEAQ (R9)(R9*2), R14       // R14: 3 packed rows
	MOVQ R9, R10
	SHLQ $2, R10               // R10: 4 packed rows
	LEAQ (R8)(R8*2), R13       // R13: 3 source rows
	MOVQ pf+48(FP), R15        // R15: prefetch offset in bytes

group4f32:
	CMPQ BX, $4
	JLT  done8f32
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ CX, DX

loop8f32:
	PREFETCHT1   (R11)(R15*1)
	LEAQ         (R11)(R15*1), AX
	PREFETCHT1   (AX)(R8*1)
	PREFETCHT1   (AX)(R8*2)
	PREFETCHT1   (AX)(R13*1)
	VMOVUPS      (R11), Y0
	VMOVUPS      (R11)(R8*1), Y1
	VMOVUPS      (R11)(R8*2), Y2
	VMOVUPS      (R11)(R13*1), Y3
	VUNPCKLPS    Y1, Y0, Y4    // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS    Y1, Y0, Y5    // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS    Y3, Y2, Y6    // c0 d0 c1 d1 | c4 d4 c5 d5
	VUNPCKHPS    Y3, Y2, Y7    // c2 d2 c3 d3 | c6 d6 c7 d7
	VUNPCKLPD    Y6, Y4, Y0    // p = 0 | 4
	VUNPCKHPD    Y6, Y4, Y1    // p = 1 | 5
	VUNPCKLPD    Y7, Y5, Y2    // p = 2 | 6
	VUNPCKHPD    Y7, Y5, Y3    // p = 3 | 7
	VMOVUPS      X0, (R12)
	VMOVUPS      X1, (R12)(R9*1)
	VMOVUPS      X2, (R12)(R9*2)
	VMOVUPS      X3, (R12)(R14*1)
	ADDQ         R10, R12
	VEXTRACTF128 $1, Y0, (R12)
	VEXTRACTF128 $1, Y1, (R12)(R9*1)
	VEXTRACTF128 $1, Y2, (R12)(R9*2)
	VEXTRACTF128 $1, Y3, (R12)(R14*1)
	ADDQ         R10, R12
	ADDQ         $32, R11
	DECQ         DX
	JNZ          loop8f32

	LEAQ (SI)(R8*4), SI
	ADDQ $16, DI
	SUBQ $4, BX
	JMP  group4f32

done8f32:
	VZEROUPPER
	RET
