//go:build amd64 && !purego

package gemm

// packInterleave4 transposes rows (even, at most r) rows of 4*kc4 values of src (row
// stride ld) into dst[p*r+i], prefetching into L2 what lies pf bytes beyond each value
// read. It needs AVX2.
//
//go:noescape
func packInterleave4(dst, src *float64, ld, kc4, rows, r, pf int)

// packCopy4 copies kc rows of r values (r even) of src (row stride ld) to dst[p*r:p*r+r],
// prefetching into L2 the r values pf bytes beyond each row. It needs AVX.
//
//go:noescape
func packCopy4(dst, src *float64, ld, kc, r, pf int)

// The packers prefetch the source of the next sliver, next elements from their own (see
// microKernel), which the driver packs after the micro-kernels have used this one: by then
// it has arrived from L3 or memory. When there is none (next 0) they prefetch their own
// source again, which is free. A prefetch never faults, wherever it points.

// packInterleaveAVX2 is packInterleaveGo in assembly. An edge sliver (w < r) is cleared
// first and its rows past the last even one are copied in Go.
func packInterleaveAVX2(dst, src []float64, ld, kc, w, r, next int) {
	if kc < 4 || w < 2 {
		packInterleaveGo(dst, src, ld, kc, w, r, next)
		return
	}
	dst = dst[:kc*r]
	_ = src[(w-1)*ld+kc-1] // the assembly reads this far
	if w < r {
		clear(dst)
	}
	even, kc4 := w&^1, kc/4
	pf := 8 * next // bytes
	packInterleave4(&dst[0], &src[0], ld, kc4, even, r, pf)
	packInterleaveRest(dst, src, ld, kc, w, r, even, kc4*4)
}

// packInterleaveRest packs what the assembly leaves of a sliver: the p from kcDone on of
// its first rows rows, and every p of the rows from rows to w.
func packInterleaveRest[T Float](dst, src []T, ld, kc, w, r, rows, kcDone int) {
	for i := range rows {
		for p := kcDone; p < kc; p++ {
			dst[p*r+i] = src[i*ld+p]
		}
	}
	for i := rows; i < w; i++ {
		for p, v := range src[i*ld : i*ld+kc] {
			dst[p*r+i] = v
		}
	}
}

// packCopyAVX2 is packCopyGo for whole, even slivers, in assembly.
func packCopyAVX2(dst, src []float64, ld, kc, w, r, next int) {
	if w < r || r%2 != 0 {
		packCopyGo(dst, src, ld, kc, w, r, next)
		return
	}
	_, _ = dst[kc*r-1], src[(kc-1)*ld+r-1]
	pf := 8 * next // bytes
	packCopy4(&dst[0], &src[0], ld, kc, r, pf)
}

// packCopy8f32 copies kc rows of r values (r a multiple of 8) of src (row stride ld) to
// dst[p*r:p*r+r], prefetching into L2 the r values pf bytes beyond each row. It needs AVX.
//
//go:noescape
func packCopy8f32(dst, src *float32, ld, kc, r, pf int)

// packCopyAVX2f32 is packCopyGo for whole float32 slivers of a multiple of 8, in assembly.
func packCopyAVX2f32(dst, src []float32, ld, kc, w, r, next int) {
	if w < r || r%8 != 0 {
		packCopyGo(dst, src, ld, kc, w, r, next)
		return
	}
	_, _ = dst[kc*r-1], src[(kc-1)*ld+r-1]
	pf := 4 * next // bytes
	packCopy8f32(&dst[0], &src[0], ld, kc, r, pf)
}

// packInterleave8f32 transposes rows (a multiple of 4, at most r) rows of 8*kc8 values of
// src (row stride ld) into dst[p*r+i], prefetching into L2 what lies pf bytes beyond each
// value read. It needs AVX.
//
//go:noescape
func packInterleave8f32(dst, src *float32, ld, kc8, rows, r, pf int)

// packInterleaveAVX2f32 is packInterleaveGo for float32 in assembly. An edge sliver
// (w < r) is cleared first; the rows past the last multiple of 4, and the p past the last
// multiple of 8, are copied in Go.
func packInterleaveAVX2f32(dst, src []float32, ld, kc, w, r, next int) {
	if kc < 8 || w < 4 {
		packInterleaveGo(dst, src, ld, kc, w, r, next)
		return
	}
	dst = dst[:kc*r]
	_ = src[(w-1)*ld+kc-1] // the assembly reads this far
	if w < r {
		clear(dst)
	}
	four, kc8 := w&^3, kc/8
	pf := 4 * next // bytes
	packInterleave8f32(&dst[0], &src[0], ld, kc8, four, r, pf)
	packInterleaveRest(dst, src, ld, kc, w, r, four, kc8*8)
}
