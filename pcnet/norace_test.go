//go:build !race

package pcnet

const raceEnabled = false
