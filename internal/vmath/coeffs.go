package vmath

// tanh on [0, tanhSmallMax): tanh(z) = z + z³·(tanhP0 + tanhP1·z² + ... + tanhP10·z²⁰).
// Minimax for the relative error of tanh on that interval (Remez), coefficients rounded
// to float64 and their last bits searched locally: the approximation error is 1.1e-17,
// 0.1 of 2^-53, small beside the rounding errors.
const (
	tanhSmallMax = 0.625

	tanhP0  = -0x1.55555555554ffp-2
	tanhP1  = 0x1.111111110accbp-3
	tanhP2  = -0x1.ba1ba1b506422p-5
	tanhP3  = 0x1.664f477ad9999p-6
	tanhP4  = -0x1.226e162bdfa44p-7
	tanhP5  = 0x1.d6cf280c692edp-9
	tanhP6  = -0x1.7d68a31c5f13ap-10
	tanhP7  = 0x1.3366127e669bbp-11
	tanhP8  = -0x1.df55771a5cc23p-13
	tanhP9  = 0x1.43911ca457253p-14
	tanhP10 = -0x1.0da7207f22e77p-16

	// tanhClamp bounds z before exp(2z): tanh(z) rounds to 1 for z ≥ 19.07.
	tanhClamp = 20.0
)

// exp(r) ≈ 1 + r·(expC1 + expC2·r + ... + expC11·r¹⁰) on |r| ≤ ln2/2: minimax for the
// relative error, rounded and searched as above; the error is 8.8e-18 (0.08 of 2^-53).
const (
	expC1  = 0x1.0000000000000p+0
	expC2  = 0x1.000000000000fp-1
	expC3  = 0x1.55555555554a9p-3
	expC4  = 0x1.555555554f398p-5
	expC5  = 0x1.1111111130df8p-7
	expC6  = 0x1.6c16c18781007p-10
	expC7  = 0x1.a01a011056d4fp-13
	expC8  = 0x1.a01992d12c4bbp-16
	expC9  = 0x1.71df45214ee86p-19
	expC10 = 0x1.28b311a402984p-22
	expC11 = 0x1.ad661c0278f25p-26
)

// Argument reduction for exp: k = round(y·log2e), r = (y - k·ln2Hi) - k·ln2Lo.
// ln2Hi keeps 32 significant bits, so k·ln2Hi is exact for |k| < 2^21 and y - k·ln2Hi is
// exact; ln2Hi+ln2Lo is ln2 to within 1.2e-26.
const (
	log2e = 0x1.71547652b82fep+0
	ln2Hi = 0x1.62e42fee00000p-1
	ln2Lo = 0x1.a39ef35793c76p-33

	// roundMagic is 1.5·2^52: adding it to |v| < 2^51 rounds v to an integer (ties to
	// even) held in the low mantissa bits, from which the exponent adjustment is shifted.
	roundMagic = 0x1.8p52

	// oneBits are the bits of 1.0; adding m<<52 to them gives 2^m.
	oneBits = 0x3ff0000000000000
)

// sigmoidClamp bounds -|x| from below: exp(-746) is below half the smallest subnormal.
const sigmoidClamp = -746.0

// sigmoidScaleBias is the extra power of two applied with the exponent bits and removed
// by a multiplication, so that exp(-|x|) can reach the subnormal range.
const sigmoidScaleBias = 64
