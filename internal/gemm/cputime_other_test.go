//go:build !linux

package gemm

import "time"

var start = time.Now()

// threadCPU falls back to wall time where the thread's CPU clock is not at hand.
func threadCPU() time.Duration { return time.Since(start) }

// processCPU falls back to wall time too.
func processCPU() time.Duration { return time.Since(start) }
