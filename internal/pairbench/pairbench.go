// Package pairbench times two computations in one benchmark loop. They alternate in
// blocks of a few calls, in alternating order, so that a host whose speed drifts slows
// both alike (the ratio of two benchmarks timed minutes apart carries that drift), while
// each runs a few calls in a row with its own data in the caches, as it would alone.
package pairbench

import (
	"testing"
	"time"
)

// Run calls a and c b.N times each, block calls of one then block of the other, and
// returns their mean times per call. Warm them up before: Run resets the timer.
func Run(b *testing.B, block int, a, c func()) (ta, tc time.Duration) {
	b.Helper()
	timed := func(f func(), n int) time.Duration {
		t0 := time.Now()
		for range n {
			f()
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	for i, k := 0, 0; i < b.N; i, k = i+block, k+1 {
		n := min(block, b.N-i)
		if k%2 == 0 {
			ta += timed(a, n)
			tc += timed(c, n)
		} else {
			tc += timed(c, n)
			ta += timed(a, n)
		}
	}
	b.StopTimer()
	return ta / time.Duration(b.N), tc / time.Duration(b.N)
}
