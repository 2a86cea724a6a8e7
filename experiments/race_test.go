//go:build race

package experiments

// raceEnabled: the race detector slows the arithmetic several times over.
const raceEnabled = true
