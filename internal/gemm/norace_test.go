//go:build !race

package gemm

// raceEnabled says that the race detector is on.
const raceEnabled = false
