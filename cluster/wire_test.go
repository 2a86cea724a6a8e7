package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"reflect"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// declaring gob-encodes v, whose one collection holds the single entry or element
// marker, as a message body whose collection declares count entries instead: the
// body of a sender who lies about a count (the rest of the body is v's, so a decoder
// that trusts the count runs out of input after one entry).
func declaring(t testing.TB, v any, marker []byte, count uint64) []byte {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	require.NoError(t, enc.Encode(v))
	n := buf.Len()
	require.NoError(t, enc.Encode(v)) // the value again, now without the type definitions
	types, value := buf.Bytes()[:2*n-buf.Len()], buf.Bytes()[2*n-buf.Len():n]
	// A gob message is its length (a gob uint), then the message.
	_, skip := gobUint(value)
	body := value[skip:]
	at := bytes.Index(body, append([]byte{1}, marker...)) // the count 1, then the entry
	require.GreaterOrEqual(t, at, 0, "the marker follows a count of 1")
	patched := append(append(append([]byte(nil), body[:at]...), putGobUint(count)...), body[at+1:]...)
	out := append([]byte(nil), types...)
	out = append(out, putGobUint(uint64(len(patched)))...)
	return append(out, patched...)
}

// gobUint reads a gob uint: one byte below 128, else the negated byte count and the
// big-endian bytes.
func gobUint(b []byte) (uint64, int) {
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	n := int(-int8(b[0]))
	var x uint64
	for _, c := range b[1 : 1+n] {
		x = x<<8 | uint64(c)
	}
	return x, 1 + n
}

func putGobUint(x uint64) []byte {
	if x < 0x80 {
		return []byte{byte(x)}
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], x)
	i := 0
	for b[i] == 0 {
		i++
	}
	return append([]byte{byte(-int8(8 - i))}, b[i:]...)
}

// Senders of other wire types, which gob matches to message by field names: an
// earlier pcnet's (optState.Buffers a map) and a hostile one's.
type (
	optOf[B any]    struct{ Buffers B }
	layersOf[B any] struct {
		Layers []struct{ Opt [2]optOf[B] }
	}
	labelsOnly struct{ Labels []int }
)

func withBuffers[B any](b B) layersOf[B] {
	return layersOf[B]{Layers: []struct{ Opt [2]optOf[B] }{{Opt: [2]optOf[B]{{Buffers: b}}}}}
}

// hostileBodies are message bodies that declare far more than they carry: each must be
// refused at once with memory in proportion to its bytes (TestDecodeMessageBounded).
// The first is what FuzzMessageBody found, minimised (its seed corpus holds it too):
// while optState.Buffers was a map, gob sized it by its declared count (4e9 entries:
// tens of GB, minutes of page faults) before it read one entry.
func hostileBodies(t testing.TB) []struct {
	name string
	body []byte
} {
	zzzz := []byte("\x04zzzz") // a string of 4 bytes, after its count
	return []struct {
		name string
		body []byte
	}{
		{"a map of 4e9 buffers", declaring(t, withBuffers(map[string][]byte{"zzzz": nil}), zzzz, 0xfa705f61)},
		{"a slice of 4e9 buffers", declaring(t, withBuffers([]namedBuffer{{Name: "zzzz"}}), append([]byte{1}, zzzz...), 0xfa705f61)},
		{"2^40 labels", declaring(t, labelsOnly{Labels: []int{0x3f}}, []byte{0x7e}, 1<<40)},
	}
}

// TestDecodeMessageBounded: a body that declares more entries than it carries is an
// error, and decoding it allocates in proportion to its bytes: at most 184 bytes a body
// byte (a gob slice element costs one byte at least and channels.Traffic, the largest
// element of a message, 184 bytes of memory) beside the first 10 MB gob gives a slice
// before it has read its elements.
func TestDecodeMessageBounded(t *testing.T) {
	for _, tc := range hostileBodies(t) {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := decodeMessage(tc.body)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			require.Nil(t, m)
			allocated := after.TotalAlloc - before.TotalAlloc
			require.LessOrEqual(t, allocated, uint64(184*len(tc.body)+11<<20), "bytes allocated for a body of %d", len(tc.body))
		})
	}
}

// TestWireHasNoMap: no map anywhere in a message, since gob sizes a map by the count
// its sender declares (optState.Buffers), and no interface, whose concrete type the
// sender would name; no slice element above 184 bytes, the most a body byte may cost
// (TestDecodeMessageBounded, docs/design.md §9).
func TestWireHasNoMap(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(ty reflect.Type, path string)
	walk = func(ty reflect.Type, path string) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Map, reflect.Interface:
			t.Errorf("%s is a %v", path, ty)
		case reflect.Slice, reflect.Array, reflect.Pointer:
			if ty.Kind() == reflect.Slice && ty.Elem().Size() > 184 {
				t.Errorf("%s: elements of %d bytes", path, ty.Elem().Size())
			}
			walk(ty.Elem(), path+"[]")
		case reflect.Struct:
			for i := range ty.NumField() {
				if f := ty.Field(i); f.IsExported() {
					walk(f.Type, path+"."+f.Name)
				}
			}
		}
	}
	walk(reflect.TypeFor[message](), "message")
}
