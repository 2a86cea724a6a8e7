//go:build linux

package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time of the whole process, every thread: on a shared machine it
// counts only the time the benchmark ran, not the time other processes held the cores, and
// on several cores it counts the helpers of a split product too (the work, not the
// elapsed time).
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}
