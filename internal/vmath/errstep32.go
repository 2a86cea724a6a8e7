package vmath

import (
	"fmt"
	"math"
)

// The float32 twins of StepMax, DiffMax, SetMax and SumSquares. Each runs its vector part in AVX2
// where the CPU has it (stepMax32AVX2, diffMax32AVX2, setMax32AVX2, sumSquares32AVX2), eight lanes doing
// the Go loop's operations in its order, and the loop below on the rest: the loop is the
// twin the tests hold the assembly to. Each new e is rounded to float32 by exactly the
// operations of the float64 kernels, in the same order and without fused multiply-adds:
// the float32(...) conversions below forbid the compiler to fuse, as float64(...) does in
// the float64 twins. The figures are returned as float64: the maxima are float32 values
// widened exactly, and Σe² sums the squares in float64, where the square of a float32 is
// exact, in the order SumSquares documents.

// absBits32 clears a float32's sign bit; see absBits.
const absBits32 = 1<<31 - 1

// StepMax32 is StepMax in float32: e[i] = e[i] - g·(e[i] - j[i]) with g = float32(gamma),
// rounded in float32 after each operation. It panics if len(j) != len(e).
func StepMax32(e, j []float32, gamma float64) (size, change, squares float64) {
	if len(j) != len(e) {
		panic(fmt.Sprintf("vmath: StepMax32: operand length %d, want len(e) = %d", len(j), len(e)))
	}
	g := float32(gamma)
	sq := newSquareSum32(len(e))
	// The vector kernel, where there is one, runs the first elements (stepMax32Head).
	start, em, dm := stepMax32Head(e, j, g, &sq)
	for i := start; i < len(e); i++ {
		d := float32(g * (e[i] - j[i]))
		v := e[i] - d
		e[i] = v
		sq.add(i, v)
		em = max(em, math.Float32bits(v)&absBits32)
		dm = max(dm, math.Float32bits(d)&absBits32)
	}
	return bitsTo64(em), bitsTo64(dm), sq.total(e)
}

// DiffMax32 is DiffMax in float32: e[i] = x[i] - p[i], with the same figures. It panics
// unless x and p have the length of e.
func DiffMax32(e, x, p []float32) (size, change, squares float64) {
	if len(x) != len(e) || len(p) != len(e) {
		panic(fmt.Sprintf("vmath: DiffMax32: operand lengths %d and %d, want len(e) = %d", len(x), len(p), len(e)))
	}
	sq := newSquareSum32(len(e))
	start, em, dm := diffMax32Head(e, x, p, &sq)
	for i := start; i < len(e); i++ {
		v := x[i] - p[i]
		d := v - e[i]
		e[i] = v
		sq.add(i, v)
		em = max(em, math.Float32bits(v)&absBits32)
		dm = max(dm, math.Float32bits(d)&absBits32)
	}
	return bitsTo64(em), bitsTo64(dm), sq.total(e)
}

// SetMax32 is SetMax in float32: e[i] = c[i] + 0, with the same figures. It panics if
// len(c) != len(e).
func SetMax32(e, c []float32) (size, change, squares float64) {
	if len(c) != len(e) {
		panic(fmt.Sprintf("vmath: SetMax32: operand length %d, want len(e) = %d", len(c), len(e)))
	}
	sq := newSquareSum32(len(e))
	start, em, dm := setMax32Head(e, c, &sq)
	for i := start; i < len(e); i++ {
		v := c[i]
		d := e[i] - v
		v += 0
		e[i] = v
		sq.add(i, v)
		em = max(em, math.Float32bits(v)&absBits32)
		dm = max(dm, math.Float32bits(d)&absBits32)
	}
	return bitsTo64(em), bitsTo64(dm), sq.total(e)
}

// SumSquares32 returns Σ float64(v[i])², added in SumSquares's order, so that it gives
// StepMax32's and DiffMax32's sums bit for bit.
func SumSquares32(v []float32) float64 {
	sq := newSquareSum32(len(v))
	for i := sumSquares32Head(v, &sq); i < len(v); i++ {
		sq.add(i, v[i])
	}
	return sq.total(v)
}

// squareSum32 is squareSum for float32 values: element i of the first n = len &^ 7 goes
// to lane i mod 8, and total folds the lanes as squareSum.total does and adds the rest.
type squareSum32 struct {
	lane [8]float64
	n    int // the length of the vector part
}

func newSquareSum32(length int) squareSum32 { return squareSum32{n: length &^ 7} }

func (s *squareSum32) add(i int, v float32) {
	if i < s.n {
		x := float64(v)
		s.lane[i&7] += float64(x * x)
	}
}

func (s *squareSum32) total(v []float32) float64 {
	l := &s.lane
	sum := ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
	for _, x := range v[s.n:] {
		y := float64(x)
		sum += float64(y * y)
	}
	return sum
}

// bitsTo64 widens a float32 given by its bits to float64 (exactly).
func bitsTo64(b uint32) float64 { return float64(math.Float32frombits(b)) }
