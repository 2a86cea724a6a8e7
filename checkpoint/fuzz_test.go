package checkpoint

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pcnet/pcnet/optim"
)

// fuzzLimit caps what one fuzz input may make Read accept; the safetensors decoder
// allocates no more than the input supplies up to it.
const fuzzLimit = 1 << 20

// FuzzLoad holds the checkpoint reader to never panicking and to returning either an
// error or a checkpoint whose parts fit together (it encodes again).
func FuzzLoad(f *testing.F) {
	for i, opt := range []optim.Config{sgd, adam, {Kind: optim.SGD, LR: 1}} {
		good := encodeBytes(f, sample(f, opt, uint64(i)))
		f.Add(good)
		f.Add(good[:len(good)/2])
		f.Add(good[:8+int(binary.LittleEndian.Uint64(good))])
		f.Add(bytes.Replace(good, []byte(`"sizes":"5,4,3,2"`), []byte(`"sizes":"5,4,3,9"`), 1))
		f.Add(bytes.Replace(good, []byte(`"hidden":"2"`), []byte(`"hidden":"9"`), 1))
		f.Add(bytes.Replace(good, []byte(`"layers.0.bias"`), []byte(`"layers.9.bias"`), 1))
	}
	f.Add([]byte{})
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Add([]byte("\x40\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"format\":\"pcnet-checkpoint/1\"}}         "))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Read[float64](bytes.NewReader(data), fuzzLimit)
		if err != nil {
			return
		}
		if _, err := Encode(c); err != nil {
			t.Fatalf("a checkpoint Read accepted does not encode: %v", err)
		}
	})
}
