//go:build !linux

package bench

import "time"

var start = time.Now()

// processCPU falls back to wall time where the process's CPU clock is not at hand.
func processCPU() time.Duration { return time.Since(start) }
