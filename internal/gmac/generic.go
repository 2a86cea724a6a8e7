package gmac

import "encoding/binary"

// elem is an element of GF(2^128) in GCM's bit order: bit i of the
// big-endian 128-bit string hi||lo is the coefficient of x^i, so x^0 is the
// top bit of hi.
type elem struct{ hi, lo uint64 }

func load(b []byte) elem {
	return elem{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

func (e elem) store(b []byte) {
	binary.BigEndian.PutUint64(b, e.hi)
	binary.BigEndian.PutUint64(b[8:], e.lo)
}

// mul is SP 800-38D's Algorithm 1: x·y modulo x^128 + x^7 + x^2 + x + 1,
// one bit of x at a time.
func mul(x, y elem) elem {
	var z elem
	v := y
	for i := range 128 {
		w := x.hi
		if i >= 64 {
			w = x.lo
		}
		if w>>(63-i%64)&1 == 1 {
			z.hi ^= v.hi
			z.lo ^= v.lo
		}
		// v·x: a shift towards x^127 (right in this bit order); x^128
		// wraps to x^7 + x^2 + x + 1, the bits 0xe1 at the top.
		carry := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if carry == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

// mulXInv returns e·x^-1, where x^-1 = 1 + x + x^6 + x^127.
func mulXInv(e elem) elem {
	x0 := e.hi >> 63
	e.hi = e.hi<<1 | e.lo>>63
	e.lo <<= 1
	if x0 == 1 {
		e.hi ^= 0xc2 << 56
		e.lo ^= 1
	}
	return e
}

// ghashGeneric is the twin of ghashAVX512: it folds the whole 16-byte
// blocks of data into y, y = (y XOR block)·H a block, with y in GCM's byte
// order.
func ghashGeneric(h *[16]byte, y *[16]byte, data []byte) {
	hh, acc := load(h[:]), load(y[:])
	for ; len(data) >= 16; data = data[16:] {
		b := load(data)
		acc = mul(elem{acc.hi ^ b.hi, acc.lo ^ b.lo}, hh)
	}
	acc.store(y[:])
}
