//go:build race

package pcnet

// raceEnabled: the race detector allocates on its own account.
const raceEnabled = true
