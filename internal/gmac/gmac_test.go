package gmac

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// stdlibTag is the reference: crypto/cipher's GCM sealing no plaintext.
func stdlibTag(t testing.TB, key []byte, nonce *[NonceSize]byte, data []byte) []byte {
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	g, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return g.Seal(nil, nonce[:], nil, data)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ghashes are the GHASHes a MAC can run here: the twin everywhere, the
// kernel where the CPU has it.
func ghashes() map[string]bool {
	g := map[string]bool{"twin": false}
	if hasKernel {
		g["kernel"] = true
	}
	return g
}

// TestTagMatchesStdlib holds the tags of the kernel and of the twin to
// crypto/cipher's GCM: every length 0..600 at every start alignment 0..63 of
// the data in memory, and random lengths up to 600 KiB, under random keys
// of every AES size and random nonces.
func TestTagMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 1))
	long := []int{601, 4095, 4096, 4097, 65536 + 72, 131072, 131072 + 72}
	for range 8 {
		long = append(long, r.IntN(600<<10))
	}
	cases := []struct {
		name    string
		lengths []int
		aligns  int
		kernel  bool // the kernel only: the twin is too slow for every case
	}{
		{name: "short", lengths: seq(0, 600), aligns: 64},
		{name: "long", lengths: long, aligns: 64, kernel: true},
		{name: "long-few", lengths: long[:4], aligns: 2},
	}
	buf := randBytes(r, 600<<10+64)
	for _, c := range cases {
		for name, gh := range ghashes() {
			if c.kernel && name != "kernel" {
				continue
			}
			t.Run(c.name+"/"+name, func(t *testing.T) {
				for _, n := range c.lengths {
					key := randBytes(r, []int{16, 24, 32}[r.IntN(3)])
					m, err := New(key)
					require.NoError(t, err)
					var nonce [NonceSize]byte
					copy(nonce[:], randBytes(r, NonceSize))
					for align := range c.aligns {
						data := buf[align : align+n]
						m.tag(&nonce, data, gh)
						require.Equal(t, stdlibTag(t, key, &nonce, data), m.j0[:], "length %d, alignment %d", n, align)
					}
				}
			})
		}
	}
}

func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// TestKernelMatchesTwin holds ghashAVX512 to ghashGeneric bit for bit on
// every block count up to 70 (the main loop of 32 blocks, each tail of
// 0..31 blocks and each masked part of 1..3) from random running hashes.
func TestKernelMatchesTwin(t *testing.T) {
	if !hasKernel {
		t.Skip("no AVX-512 VPCLMULQDQ on this CPU")
	}
	r := rand.New(rand.NewPCG(19, 2))
	for blocks := range 71 {
		t.Run(fmt.Sprint(blocks), func(t *testing.T) {
			m, err := New(randBytes(r, 32))
			require.NoError(t, err)
			var y0 [16]byte
			copy(y0[:], randBytes(r, 16))
			align := r.IntN(64)
			data := randBytes(r, align+16*blocks)[align:]
			want, got := y0, y0
			ghashGeneric(&m.h, &want, data)
			ghashAVX512(&m.table, &got, data)
			require.Equal(t, want, got)
		})
	}
}

// TestSumVerify: Sum appends the stdlib tag; Verify accepts it and refuses
// any other tag, data or nonce, with the kernel and with crypto/cipher's
// GCM as the MAC (the path of CPUs without the kernel).
func TestSumVerify(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 3))
	key := randBytes(r, 32)
	kernel, err := New(key)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	std := &MAC{block: block}
	std.gcm, err = cipher.NewGCM(block)
	require.NoError(t, err)
	for name, m := range map[string]*MAC{"default": kernel, "stdlib": std} {
		t.Run(name, func(t *testing.T) {
			var nonce [NonceSize]byte
			copy(nonce[:], randBytes(r, NonceSize))
			data := randBytes(r, 1000)
			prefix := []byte("prefix")
			tag := m.Sum(prefix, &nonce, data)
			require.Equal(t, append([]byte("prefix"), stdlibTag(t, key, &nonce, data)...), tag)
			tag = tag[len(prefix):]
			require.True(t, m.Verify(&nonce, data, tag))
			for i := range TagSize * 8 {
				bad := append([]byte(nil), tag...)
				bad[i/8] ^= 1 << (i % 8)
				require.False(t, m.Verify(&nonce, data, bad), "tag bit %d flipped", i)
			}
			require.False(t, m.Verify(&nonce, data, tag[:TagSize-1]), "short tag")
			require.False(t, m.Verify(&nonce, data, append(tag, 0)), "long tag")
			require.False(t, m.Verify(&nonce, data[:999], tag), "truncated data")
			data[500] ^= 1
			require.False(t, m.Verify(&nonce, data, tag), "altered data")
			data[500] ^= 1
			nonce[11] ^= 1
			require.False(t, m.Verify(&nonce, data, tag), "other nonce")
		})
	}
}

func TestNewBadKey(t *testing.T) {
	for _, n := range []int{0, 15, 31, 33} {
		_, err := New(make([]byte, n))
		require.ErrorContains(t, err, "gmac: crypto/aes: invalid key size", "key of %d bytes", n)
	}
}

// FuzzTag compares the tags of a MAC with crypto/cipher's GCM on any key,
// nonce, data and alignment.
func FuzzTag(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, NonceSize), []byte{}, uint8(0))
	f.Add(make([]byte, 16), make([]byte, NonceSize), make([]byte, 257), uint8(5))
	f.Fuzz(func(t *testing.T, key, nonceBytes, data []byte, align uint8) {
		if len(key) != 16 && len(key) != 24 && len(key) != 32 {
			key = append(key, make([]byte, 32)...)[:32]
		}
		var nonce [NonceSize]byte
		copy(nonce[:], nonceBytes)
		buf := make([]byte, int(align%64)+len(data))
		copy(buf[align%64:], data)
		data = buf[align%64:]
		m, err := New(key)
		require.NoError(t, err)
		want := stdlibTag(t, key, &nonce, data)
		require.Equal(t, want, m.Sum(nil, &nonce, data))
		require.True(t, m.Verify(&nonce, data, want))
	})
}
