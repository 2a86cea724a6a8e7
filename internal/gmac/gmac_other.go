//go:build !amd64 || purego

package gmac

const hasKernel = false

// ghashAVX512 is never called without the kernel: a MAC is crypto/cipher's
// GCM then.
func ghashAVX512(*[2 * powers * 16]byte, *[16]byte, []byte) { panic("gmac: no kernel") }
