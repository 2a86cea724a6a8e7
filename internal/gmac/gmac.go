package gmac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

const (
	// NonceSize is the length of a nonce: GCM's standard 12 bytes.
	NonceSize = 12
	// TagSize is the length of a tag: GCM's full 16 bytes.
	TagSize = 16

	// powers is how many powers of H the kernel's table holds: the blocks
	// it folds between two reductions.
	powers = 32
)

// MAC computes and checks the GMAC tags of one key. It is not safe for
// concurrent use: Sum and Verify encrypt J0 in a buffer of the MAC's, since
// crypto/aes's Block.Encrypt takes its slices through an interface and
// buffers on the stack would be allocated on the heap on every call.
type MAC struct {
	block cipher.Block
	h     [16]byte // E_K(0^128), GCM's byte order: the twin's key
	// gcm is set where the CPU cannot run the kernel: the MAC is then
	// crypto/cipher's GCM, never the slow twin.
	gcm cipher.AEAD
	// table holds H^32 .. H^1, each multiplied by x^-1 and byte-reversed,
	// the form the kernel multiplies by, then the sums of each one's two
	// quadwords, for Karatsuba (fillTable).
	table [2 * powers * 16]byte
	j0    [16]byte // J0, then E_K(J0)
}

// New returns the MAC of an AES key of 16, 24 or 32 bytes (AES-128, -192 or
// -256).
func New(key []byte) (*MAC, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("gmac: %w", err)
	}
	m := &MAC{block: block}
	block.Encrypt(m.h[:], m.h[:])
	if !hasKernel {
		if m.gcm, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("gmac: %w", err) // unreachable: AES has 16-byte blocks
		}
		return m, nil
	}
	fillTable(&m.table, &m.h)
	return m, nil
}

// Sum appends to b the tag of data under nonce: the tag of GCM's
// Seal(nil, nonce, nil, data).
func (m *MAC) Sum(b []byte, nonce *[NonceSize]byte, data []byte) []byte {
	if m.gcm != nil {
		return m.gcm.Seal(b, nonce[:], nil, data)
	}
	m.tag(nonce, data, true)
	return append(b, m.j0[:]...)
}

// Verify reports whether tag is the tag of data under nonce, in time that
// does not depend on where a wrong tag differs.
func (m *MAC) Verify(nonce *[NonceSize]byte, data, tag []byte) bool {
	if m.gcm != nil {
		_, err := m.gcm.Open(nil, nonce[:], tag, data)
		return err == nil
	}
	m.tag(nonce, data, true)
	return subtle.ConstantTimeCompare(m.j0[:], tag) == 1
}

// ghash folds the whole blocks of data into y (GCM's byte order) with the
// kernel or, for the tests, its twin.
func (m *MAC) ghash(y *[16]byte, data []byte, kernel bool) {
	if kernel {
		ghashAVX512(&m.table, y, data)
	} else {
		ghashGeneric(&m.h, y, data)
	}
}

// tag computes the tag of data under nonce into m.j0 with the kernel or,
// for the tests, the twin.
func (m *MAC) tag(nonce *[NonceSize]byte, data []byte, kernel bool) {
	var y [16]byte
	full := len(data) &^ 15
	m.ghash(&y, data[:full], kernel)
	// The partial last block, zero-padded, and the lengths block: SP
	// 800-38D's len(A) || len(C) in bits, C empty.
	var last [32]byte
	n := copy(last[:], data[full:])
	end := 16
	if n > 0 {
		end = 32
	}
	binary.BigEndian.PutUint64(last[end-16:], uint64(len(data))*8)
	m.ghash(&y, last[:end], kernel)
	copy(m.j0[:], nonce[:])
	m.j0[12], m.j0[13], m.j0[14], m.j0[15] = 0, 0, 0, 1
	m.block.Encrypt(m.j0[:], m.j0[:])
	subtle.XORBytes(m.j0[:], m.j0[:], y[:])
}

// fillTable writes H^32 .. H^1 in the kernel's form, and after them the
// sum (XOR) of each one's quadwords. The kernel byte-swaps
// each block as it loads it, so that a block's bits read as one 128-bit
// integer whose bit 127-i is the coefficient of x^i; multiplying two such
// integers with carry-less multiplication gives the product shifted by one
// bit, which the factor x^-1 in the table's powers undoes (the method of Go's
// gcm_amd64.s and Gueron and Kounavis's white paper on PCLMULQDQ). Each
// power after H^1 is the kernel's GHASH of one zero block from the power
// before, which reads only the table's last entries (H^1 and its sum): a key
// costs about a microsecond (BenchmarkNew), which matters because natslink's
// opener derives one for each foreign salt it is sent (docs/design.md §9).
func fillTable(table *[2 * powers * 16]byte, h *[16]byte) {
	p := *h
	var zero [16]byte
	for i := powers - 1; i >= 0; i-- {
		if i < powers-1 {
			ghashAVX512(table, &p, zero[:]) // p·H
		}
		var b [16]byte
		mulXInv(load(p[:])).store(b[:])
		for j := range 16 {
			table[i*16+j] = b[15-j]
		}
		// The sum of the power's two quadwords, for Karatsuba (both
		// halves, though the kernel reads the low one).
		for j := range 8 {
			table[powers*16+i*16+j] = b[15-j] ^ b[7-j]
			table[powers*16+i*16+8+j] = b[15-j] ^ b[7-j]
		}
	}
}

// Accelerated reports whether this CPU runs the AVX-512 kernel; without it a
// MAC is crypto/cipher's GCM.
func Accelerated() bool { return hasKernel }
