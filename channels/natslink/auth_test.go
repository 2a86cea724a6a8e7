package natslink

import (
	"math/rand/v2"
	"testing"
)

// testKey is a run key drawn from seed.
func testKey(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 19))
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return k
}

var _ = testing.Short
