package gmac

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"testing"
)

// BenchmarkTag compares a MAC's Sum with crypto/cipher's GCM sealing the
// same data as additional data, on natslink's frames of a batch-64 float64
// value at widths 64, 256 and 1024 (a 72-byte header and 64·w·8 bytes; a
// frame holds at most 128 KiB of payload, docs/design.md §9).
func BenchmarkTag(b *testing.B) {
	key := make([]byte, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(key)
	if err != nil {
		b.Fatal(err)
	}
	macs := []struct {
		name string
		sum  func(dst []byte, nonce *[NonceSize]byte, data []byte) []byte
	}{
		{"stdlib-gcm", func(dst []byte, nonce *[NonceSize]byte, data []byte) []byte { return g.Seal(dst, nonce[:], nil, data) }},
		{"gmac", m.Sum},
	}
	for _, width := range []int{64, 256, 1024} {
		data := make([]byte, 72+min(8*64*width, 128<<10))
		for _, mac := range macs {
			b.Run(fmt.Sprintf("width=%d/mac=%s", width, mac.name), func(b *testing.B) {
				var nonce [NonceSize]byte
				tag := make([]byte, 0, TagSize)
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for i := range b.N {
					binary.LittleEndian.PutUint64(nonce[:], uint64(i))
					tag = mac.sum(tag[:0], &nonce, data)
				}
			})
		}
	}
}

// BenchmarkNew is the cost of a key: AES's key schedule, H and, with the
// kernel, the table of powers of H.
func BenchmarkNew(b *testing.B) {
	key := make([]byte, 32)
	b.ReportAllocs()
	for range b.N {
		if _, err := New(key); err != nil {
			b.Fatal(err)
		}
	}
}
