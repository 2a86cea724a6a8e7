// Package vmath holds pcnet's elementwise kernels over float64 slices: activation
// functions, fast and to within a couple of ulp of the correctly rounded result (over
// float32 slices too), the error updates of the inference rules fused with the maxima
// an observer reports, and the vector loops of the optimiser and the layers' gating, in
// both precisions.
//
// # API
//
// TanhInPlace and SigmoidInPlace overwrite a with g(a) and, when deriv is not nil, write
// g'(a) computed from the rounded g(a) (1-y² for tanh, y(1-y) for the sigmoid, each with a
// single rounding). a and deriv must have the same length and must not overlap. Neither
// function allocates, starts goroutines or keeps state between calls (of this package's
// functions only a long momentum step starts one, and joins it).
//
// TanhInPlace32 and SigmoidInPlace32 are the same over float32, computed in float32
// throughout: the same method with polynomials of float32 accuracy (tanh32, sigmoid32 in
// generic32.go), eight lanes at a time in AVX2, the last len%8 elements and other CPUs in
// the Go twin, which gives the same bits. Each result is within 1.25 float32 ulp of the
// exact tanh and 1.6 of the exact sigmoid (the worst found over every 7th float32 in
// magnitudes [1e-12, 110]: 1.17 ulp for tanh just above 0.625, 1.46 for the sigmoid near
// x = -7); the derivative is written from the rounded float32 result with one rounding
// (FMA32 in Go, VFNMADD231PS in AVX2, the same bits but for a NaN's sign and payload).
// Widening to float64 and running the float64 kernel, as they did before, took about 3x as
// long (BenchmarkTanh32, BenchmarkSigmoid32, "widen" against "kernel").
//
// FMA32 is the float32 fused multiply-add, correctly rounded: math.FMA of the widened
// operands rounded to float32, which is right but where that float64 result is a float32
// halfway point or below float32's normal range; those rare cases take an exact emulation.
//
// MomentumStep and MomentumStep32 are optim's SGD step with momentum after the first
// (buf = grad·keep + buf·momentum, param += buf·(-lr), torch's roundings), which also say
// whether every new param is finite (the check a PC network makes of its weights after
// each step, an OR of param·0 in the same pass instead of a second one), and Mul, Mul32,
// AddTo and AddTo32 are layer's gating of a cotangent and its row-by-row sums of a bias
// gradient. Each is the plain Go loop (its twin, which the tests hold it to bit for bit)
// run 4 float64 or 8 float32 lanes at a time in AVX2 assembly; a momentum step of at least
// 2¹⁸ elements runs in two halves on two cores when GOMAXPROCS allows (split.go), a helper
// goroutine joined before the call returns. A backprop step in float32 spent two thirds
// of its time in the optimiser's emulated FMAs before these (issue 18). AllFinite and
// AllFinite32 tell whether a slice holds only finite values (one pass of v·0 sums), the
// same check for weights no fused step has checked (optim's other steps).
//
// StepMax (FPA-PC's error step e -= gamma·(e - j)), DiffMax (e = x - p) and SetMax
// (e = c + 0, the step at gamma = 1 written as its exact value) update e in place with
// exactly the plain loop's arithmetic and return max|e|, the largest change and Σe² (a
// node's energy term, up to pi/2) in the same pass. The sum is added in one fixed
// order, which SumSquares documents and reproduces, so the assembly and Go paths agree
// bit for bit. The maxima are taken over the bit patterns of |v|, whose integer order
// is the numeric order with NaN above +Inf, so a NaN or infinity shows in the result
// without a floating-point comparison chain. With AVX2 they run 8 elements per iteration
// (about 0.2 ns per element against 1 ns for the plain Go loop, BenchmarkStepMax, on
// an idle machine; adding Σe² left it unchanged within the noise of a loaded one).
// StepMax32, DiffMax32, SetMax32 and SumSquares32 are their float32 twins (squares summed in
// float64, in the same lane order), each running 8 lanes at a time in AVX2 too.
//
// # Method
//
// tanh is odd, so both paths work on z = |x| and copy the sign of x back (tanh(-0) = -0).
//
//   - z < 0.625: tanh(z) = z + z³·P(z²), P of degree 10, a minimax fit of the relative
//     error. The correction z³·P is at most 13% of z, so its rounding errors are damped,
//     and tiny z stay relative-accurate (z³ underflows and the result is z, as it must).
//   - z ≥ 0.625: tanh(z) = 1 - 1/h with h = (exp(2z)+1)/2. The result is then ≥ 0.55,
//     so the subtraction loses nothing, and the error of h is damped by 1/h ≤ 0.45.
//     z is clamped to 20 first (tanh rounds to 1 from 19.07 on), which keeps exp finite.
//     exp(2z) = 2^k·exp(r): k = round(2z/ln2) by the 1.5·2^52 trick, r = 2z - k·ln2 with
//     ln2 split into a 32-bit head (so that 2z - k·ln2Hi is exact) and a tail, and
//     exp(r) = 1 + r·q(r) on |r| ≤ ln2/2 with q a degree-10 minimax polynomial,
//     evaluated by Estrin's scheme (a short dependency chain, which the vector kernels
//     need to overlap enough work). h is then formed as 2^(k-1)·r·q + (2^(k-1) + 1/2) by
//     one fused multiply-add: 2^(k-1) is made from the exponent bits, and both its product
//     with r and its sum with 1/2 are exact, so h is rounded once.
//
// The vector kernels compute both branches and blend; z ≥ 0.625 is false for NaN, which
// the polynomial branch propagates.
//
// The sigmoid reuses the exp kernel: with u = exp(-|x|) it is num/(1+u), num = 1 for
// x ≥ 0 and u for x < 0 (picked by the sign bit). The quotient is divided once and then
// corrected with the exact residuals of 1+u and of the division, which takes the worst
// case for x < 0 from 2.2 ulp to 1.6 ulp. -|x| is clamped to -746, and 2^k is applied as
// 2^(k+64)·2^-64 so that results down to the subnormals round once.
//
// # Accuracy
//
// Against a 256-bit reference, over millions of arguments from every part of the float64
// line (see the tests), the largest error found is 1.2 ulp for tanh, just above the
// switch at 0.625 (below 0.9 ulp elsewhere), and 1.6 ulp for the sigmoid (0.8 ulp for
// x ≥ 0). math.Tanh itself is up to 1.37 ulp off near 0.625, and the two never differ by
// more than 2 ulp. Special values: tanh(±0) = ±0, tanh(±Inf) = ±1, sigmoid(+Inf) = 1,
// sigmoid(-Inf) = 0, NaN gives NaN, and subnormal arguments and results are handled.
//
// # Paths
//
// On amd64 the kernels run in assembly, chosen at run time with golang.org/x/sys/cpu:
// with AVX-512F and DQ, 8 lanes per register and two registers per iteration, the last
// len%8 elements under a mask; otherwise with AVX2 and FMA, 4 lanes and one register per
// iteration (the two polynomial evaluations need 10 of the 16 registers), the last
// len%4 elements in Go. Elsewhere, and under the purego build tag, a scalar Go loop runs
// the same algorithm. The Go code performs the same IEEE operations in the same order
// (every fused multiply-add is math.FMA, every other product is rounded explicitly), so
// all paths return bit-identical results, on any machine, and each is deterministic.
//
// Measured on the development machine (shared AMD EPYC, fastest of repeated runs over
// 4096 elements, see BenchmarkTanh), tanh costs about 1.4 ns per element with AVX-512,
// 1.7 ns with AVX2, 8.7 ns in Go, against 9.8 ns for a math.Tanh loop.
package vmath
