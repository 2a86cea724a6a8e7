//go:build race

package gemm

// raceEnabled says that the race detector is on: the slow Go twins then run on fewer
// products, as the race detector slows their loops tenfold and they start no goroutines.
const raceEnabled = true
