package gemm

// packCopyGo packs kc rows of w <= r contiguous values, src[p*ld : p*ld+w], into
// dst[p*r : p*r+r], zero-padding each row to r. It packs slivers of op(B) = B and of
// op(A) = Aᵀ.
func packCopyGo[T Float](dst, src []T, ld, kc, w, r, _ int) {
	for p := range kc {
		d := dst[p*r : p*r+r]
		copy(d, src[p*ld:p*ld+w])
		clear(d[w:])
	}
}

// packInterleaveGo packs w <= r rows of kc contiguous values, src[i*ld : i*ld+kc], into
// dst[p*r+i], zero-padding to r values per p: a transposing copy. It packs slivers of
// op(A) = A and of op(B) = Bᵀ.
func packInterleaveGo[T Float](dst, src []T, ld, kc, w, r, _ int) {
	dst = dst[:kc*r]
	for i := range w {
		s := src[i*ld : i*ld+kc]
		for p, v := range s {
			dst[p*r+i] = v
		}
	}
	for i := w; i < r; i++ {
		for p := range kc {
			dst[p*r+i] = 0
		}
	}
}
