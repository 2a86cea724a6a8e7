// Package gmac computes AES-GMAC tags: the tag AES-GCM gives additional data
// with an empty plaintext, Seal(nil, nonce, nil, data) of a 12-byte nonce,
// bit for bit, so that a peer using crypto/cipher's GCM opens what this
// package seals and the other way round (docs/design.md §9).
//
// Per NIST SP 800-38D, with H = E_K(0^128) and J0 = nonce || 0x00000001:
//
//	tag = GHASH_H(data, zero-padded to whole blocks || [len(data)·8]_64 || [0]_64) XOR E_K(J0)
//
// E_K is crypto/aes (one block for H when a key is set up, one for J0 a tag);
// this package has no AES code of its own. What it adds is GHASH: an
// AVX-512 kernel (gmac_amd64.s) that multiplies four blocks at a time with
// VPCLMULQDQ on ZMM registers, by precomputed powers H^32 .. H^1 (Karatsuba's
// three products a block), with one reduction per 32 blocks. Go's GCM
// (crypto/internal/fips140/aes/gcm) uses 128-bit PCLMULQDQ, eight blocks per
// reduction. On a frame of a 64 x 1024 float64 value (channels/natslink's
// BenchmarkMAC, medians of 5 on a quiet 2-core AMD EPYC) it runs at 24.2 GB/s
// against the stdlib's 7.4 (3.3x; 2.8x on a 64 x 64 value). Where the CPU lacks AVX-512 with
// VPCLMULQDQ, a [MAC] is crypto/cipher's GCM itself: the same tags at stdlib
// speed ([Accelerated] tells which).
//
// ghashGeneric (generic.go) is the kernel's twin: GF(2^128) multiplication
// bit by bit, as SP 800-38D's Algorithm 1 writes it. It is too slow to run
// in production and serves the tests, which hold the kernel to it bit for
// bit and both to crypto/cipher's GCM.
package gmac
