//go:build race

package train

// raceEnabled: the race detector slows training several times over.
const raceEnabled = true
