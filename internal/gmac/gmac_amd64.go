//go:build !purego

package gmac

import "golang.org/x/sys/cpu"

// hasKernel says whether this CPU runs ghashAVX512: AVX-512 (x/sys/cpu
// also checks that the OS saves the ZMM state) with VPCLMULQDQ, and the
// 128-bit PCLMULQDQ of its final reduction.
var hasKernel = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ

// ghashAVX512 folds the whole 16-byte blocks of data into y (GCM's byte
// order) with the powers of H in table (fillTable).
//
//go:noescape
func ghashAVX512(table *[2 * powers * 16]byte, y *[16]byte, data []byte)
