// Package straggler lets a benchmark make one layer of a pcnet network slower by a fixed
// time per product, to measure how a slow layer paces the others (the paper's "the
// slowest VJP sets every step's pace"). It is internal: a benchmark hook, not a setting
// of the product. With no delay set, the cost is one atomic load per product.
package straggler

import (
	"sync/atomic"
	"time"
)

type delay struct {
	layer int
	d     time.Duration
}

var current atomic.Pointer[delay]

// Set makes every product of weight layer l (input and weight VJPs) take d longer, until
// Clear. The delay spins rather than sleeps, so that it holds a core like real work.
func Set(l int, d time.Duration) { current.Store(&delay{layer: l, d: d}) }

// Clear removes the delay.
func Clear() { current.Store(nil) }

// Product is called by pcnet after every product of layer l.
func Product(l int) {
	if c := current.Load(); c != nil && c.layer == l {
		for end := time.Now().Add(c.d); time.Now().Before(end); {
		}
	}
}
