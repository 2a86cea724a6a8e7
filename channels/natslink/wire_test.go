package natslink

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// encodeFrames encodes m as the sender does, chunkFloats values a frame at
// most, for the decoder tests.
func encodeFrames[T tensor.Float](e endpoint, seq uint64, m channels.Message[T], chunkFloats int) [][]byte {
	size := int(elemOf[T]())
	total := 0
	if m.Payload == channels.Full {
		total = m.Buf.Rows * m.Buf.Cols
	}
	chunks := max(1, (total+chunkFloats-1)/chunkFloats)
	var frames [][]byte
	for c := range chunks {
		off := c * chunkFloats
		n := min(chunkFloats, total-off)
		f := make([]byte, headerSize+size*n)
		putHeader(f, &header{
			typ: frameData, dir: e.dir, kind: m.Kind, payload: m.Payload, elem: elemOf[T](), lower: e.lower, run: e.run,
			seq: seq, step: int64(m.Step), rows: uint32(m.Buf.Rows), cols: uint32(m.Buf.Cols),
			chunk: uint32(c), chunks: uint32(chunks), offset: uint32(off), body: uint32(size * n),
		})
		putFloats(f[headerSize:], m.Buf.Data[off:off+n])
		frames = append(frames, f)
	}
	return frames
}

// specials are values whose bits a careless encoding changes.
var specials = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
	math.Float64frombits(0x7ff4000000000001), math.SmallestNonzeroFloat64, math.MaxFloat64, -1.5}

// specials32 are specials in float32, NaN payloads and subnormals of its own.
var specials32 = []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00001), math.Float32frombits(0x7fa00001), math.SmallestNonzeroFloat32, math.MaxFloat32, -1.5}

// special is the i'th special value in T.
func special[T tensor.Float](i int) T {
	var z T
	if _, ok := any(z).(float32); ok {
		return T(specials32[i%len(specials32)]) // a conversion of the same type: the bits stay
	}
	return T(specials[i%len(specials)])
}

// bitsOf is x's bits, whatever T.
func bitsOf[T tensor.Float](x T) uint64 {
	if f, ok := any(x).(float32); ok {
		return uint64(math.Float32bits(f))
	}
	return math.Float64bits(float64(x))
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Run("float64", testDecodeRoundTrip[float64])
	t.Run("float32", testDecodeRoundTrip[float32])
}

func testDecodeRoundTrip[T tensor.Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	e := newEndpoint("r1", 3, channels.Down)
	for _, chunkFloats := range []int{1, 3, 7, 1000} {
		d := newDecoder[T](e, 2, 5, 7)
		for seq := range uint64(40) {
			rows, cols := 1+rng.IntN(5), 1+rng.IntN(7)
			v := make([]T, rows*cols)
			for i := range v {
				v[i] = T(rng.NormFloat64())
				if rng.IntN(4) == 0 {
					v[i] = special[T](rng.IntN(len(specials)))
				}
			}
			payload := channels.Payload(rng.IntN(3))
			in := channels.Message[T]{Kind: channels.Error, Step: int(seq) - 3, Payload: payload, Buf: &channels.Buffer[T]{Rows: rows, Cols: cols, Data: v}}
			frames := encodeFrames(e, seq, in, chunkFloats)
			for i, f := range frames {
				m, done, err := d.feed(f)
				require.NoError(t, err)
				require.Equal(t, i == len(frames)-1, done, "frame %d of %d", i, len(frames))
				if !done {
					continue
				}
				require.Equal(t, in.Kind, m.Kind)
				require.Equal(t, in.Step, m.Step)
				require.Equal(t, payload, m.Payload)
				require.Equal(t, rows, m.Buf.Rows)
				require.Equal(t, cols, m.Buf.Cols)
				if payload == channels.Full {
					for j, x := range m.Buf.Value() {
						require.Equal(t, bitsOf(v[j]), bitsOf(x), "value %d", j)
					}
				}
				d.release(m)
			}
		}
	}
}

// TestDecodeRejects: every malformed or foreign frame is an error naming
// what is wrong, and nothing is decoded.
func TestDecodeRejects(t *testing.T) {
	e := newEndpoint("r1", 2, channels.Up)
	valid := func(seq uint64, rows, cols int) [][]byte {
		v := make([]float64, rows*cols)
		return encodeFrames(e, seq, channels.Message[float64]{Kind: channels.Prediction, Step: 4, Buf: &channels.Buffer[float64]{Rows: rows, Cols: cols, Data: v}}, 4)
	}
	edit := func(f []byte, at int, b ...byte) []byte {
		f = append([]byte(nil), f...)
		copy(f[at:], b)
		return f
	}
	one := valid(0, 2, 2)[0] // a whole 2x2 message in one frame
	two := valid(0, 3, 2)    // a 3x2 message in two frames
	three := valid(0, 3, 3)  // a 3x3 message in three frames
	tests := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"empty", [][]byte{{}}, "truncated frame: 0 bytes"},
		{"truncated header", [][]byte{one[:20]}, "truncated frame: 20 bytes, shorter than the 72-byte header"},
		{"truncated body", [][]byte{one[:len(one)-3]}, "truncated frame: body of 29 bytes, the header says 32"},
		{"size mismatch", [][]byte{append(append([]byte(nil), one...), 0, 0, 0, 0, 0, 0, 0, 0)}, "size mismatch: body of 40 bytes, the header says 32"},
		{"magic", [][]byte{edit(one, 0, 'N', 'A', 'T', 'S')}, `not a pcnet link frame: magic "NATS"`},
		{"version", [][]byte{edit(one, 4, 9)}, "wire version 9, this build speaks 4"},
		{"flags", [][]byte{edit(one, 9, 2)}, "unknown flags 0x2"},
		{"authenticated without a key", [][]byte{edit(one, 9, flagAuth)}, "an authenticated frame, and this end has no run key"},
		{"reserved", [][]byte{edit(one, 11, 1)}, "reserved header byte is 0x1"},
		{"float32 frame", [][]byte{encodeFrames(e, 0, channels.Message[float32]{Kind: channels.Prediction, Step: 4, Buf: &channels.Buffer[float32]{Rows: 2, Cols: 2, Data: make([]float32, 4)}}, 4)[0]},
			"message 0 carries float32 values; this end receives float64 (the processes run in different precisions)"},
		{"float32 element type", [][]byte{edit(one, 10, 4)}, "message 0 carries float32 values; this end receives float64"},
		{"no element type", [][]byte{edit(one, 10, 0)}, "message 0 carries element type 0 values; this end receives float64"},
		{"unknown element type", [][]byte{edit(one, 10, 2)}, "message 0 carries element type 2 values"},
		{"frame type", [][]byte{edit(one, 5, byte(frameCredit))}, "a credit frame where a data frame belongs"},
		{"other run", [][]byte{edit(one, 16, 1, 2, 3)}, "frame of another run"},
		{"other link", [][]byte{edit(one, 12, 7)}, "frame of link 7-8 up on this link's subject"},
		{"other direction", [][]byte{edit(one, 6, byte(channels.Down))}, "frame of link 2-3 down on this link's subject"},
		{"kind", [][]byte{edit(one, 7, byte(channels.Error))}, "carries prediction messages, not error (message 0)"},
		{"unknown kind", [][]byte{edit(one, 7, 9)}, "not Kind(9)"},
		{"payload", [][]byte{edit(one, 8, 3)}, "unknown payload Payload(3)"},
		{"rows beyond the pool", [][]byte{edit(one, 40, 9)}, "message 0 is 9x2; the pool's buffers are 4x5"},
		{"cols beyond the pool", [][]byte{edit(one, 44, 0, 0, 0, 1)}, "message 0 is 2x16777216"},
		{"zero rows", [][]byte{edit(one, 40, 0)}, "message 0 is 0x2"},
		{"sequence", [][]byte{valid(1, 2, 2)[0]}, "message 1 out of order: expected message 0"},
		{"duplicate", [][]byte{one, one}, "message 0 out of order: expected message 1"},
		{"chunk of chunks", [][]byte{edit(one, 48, 1)}, "chunk 1 of 1"},
		{"no chunks", [][]byte{edit(one, 52, 0)}, "chunk 0 of 0"},
		{"shape disagrees with body", [][]byte{edit(one, 40, 3)}, "the last chunk ends at float64 4 of 6"},
		{"odd body", [][]byte{edit(append(append([]byte(nil), one...), 1), 60, 33)}, "not a whole number of float64s"},
		{"zero payload with a body", [][]byte{edit(one, 8, byte(channels.Zero))}, "a zero payload is one frame without a body"},
		{"missing chunk", [][]byte{two[0], valid(1, 2, 2)[0]}, "message 1 begins while chunk 1 of 2 of message 0 is missing"},
		{"chunk without first", [][]byte{two[1]}, "chunk 1 of 2 of message 0 without its first chunk"},
		{"chunk disagrees", [][]byte{two[0], edit(two[1], 32, 5)}, "chunk 1 (step 5, 3x2) disagrees with its first chunk (step 4, 3x2)"},
		{"chunk sent apart", [][]byte{two[0], edit(two[1], 64, 1)}, "chunk 1 was sent at 1, its first chunk at 0"},
		{"chunk beyond the value", [][]byte{two[0], edit(two[1], 56, 5)}, "chunk 1 of 2 covers float64s 5 to 7 of a 3x2 value"},
		{"last chunk short", [][]byte{two[0], edit(two[1], 56, 3)}, "the last chunk ends at float64 5 of 6"},
		{"chunk offset", [][]byte{three[0], edit(three[1], 56, 3)}, "message 0: chunk 1 starts at float64 3, after 4 received"},
		{"first chunk offset", [][]byte{edit(two[0], 56, 1)}, "its first chunk starts at float64 1"},
		{"chunk ends early", [][]byte{edit(one, 52, 2)}, "chunk 0 of 2 already ends the value"},
		{"more chunks than floats", [][]byte{edit(one, 52, 5)}, "chunk 0 of 5 has 4 float64s of a 2x2 value"},
		{"reordered chunks", [][]byte{three[0], three[2]}, "chunk 2 of 3 of message 0 where chunk 1 of 3 of message 0 belongs"},
		{"stale chunk", [][]byte{three[0], three[1], three[1]}, "chunk 1 of 3 of message 0 where chunk 2 of 3 of message 0 belongs"},
		{"stale message", [][]byte{valid(0, 1, 1)[0], valid(1, 1, 1)[0], valid(0, 1, 1)[0]}, "message 0 out of order: expected message 2"},
		{"reordered messages", [][]byte{valid(0, 1, 1)[0], valid(2, 1, 1)[0]}, "message 2 out of order: expected message 1"},
		{"stale chunk of a done message", [][]byte{two[0], two[1], two[1]}, "chunk 1 of 2 of message 0 without its first chunk"},
		{"more chunks than the pool", [][]byte{edit(one, 52, 0xff, 0xff, 0xff, 0xff)}, "chunk 0 of 4294967295 has 4 float64s of a 2x2 value"},
		{"beyond credits", [][]byte{valid(0, 1, 1)[0], valid(1, 1, 1)[0], valid(2, 1, 1)[0]}, "message 2 beyond the sender's credits: all 2 buffers are held"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder[float64](e, 2, 4, 5)
			var err error
			for _, f := range tc.frames {
				if _, _, err = d.feed(f); err != nil {
					break
				}
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "natslink: run r1 link 2-3 up: "), err.Error())
		})
	}
}

func TestCheckCredit(t *testing.T) {
	e := newEndpoint("r1", 0, channels.Up)
	frame := func(limit uint64) []byte { return e.controlFrame(make([]byte, headerSize), frameCredit, limit) }
	limit, err := e.checkCredit(frame(7), 5, 2, false)
	require.NoError(t, err)
	require.Equal(t, uint64(7), limit)

	_, err = e.checkCredit(frame(8), 5, 2, false)
	require.EqualError(t, err, "natslink: run r1 link 0-1 up: credit up to message 8, beyond the 2 buffers past the 5 sent")
	_, err = e.checkCredit(e.controlFrame(make([]byte, headerSize), frameHello, 0), 0, 2, false)
	require.EqualError(t, err, "natslink: run r1 link 0-1 up: a hello frame where a credit frame belongs")
	other := newEndpoint("r2", 0, channels.Up)
	_, err = e.checkCredit(other.controlFrame(make([]byte, headerSize), frameCredit, 1), 0, 2, false)
	require.ErrorContains(t, err, "frame of another run")
	_, err = e.checkCredit(frame(1)[:10], 0, 2, false)
	require.ErrorContains(t, err, "credit: truncated frame")
	typed := frame(1)
	typed[10] = byte(elemFloat32)
	_, err = e.checkCredit(typed, 0, 2, false)
	require.EqualError(t, err, "natslink: run r1 link 0-1 up: a credit frame with an element type (float32); only data frames carry values")
}

// FuzzDecode feeds two arbitrary frames to a decoder of each element type
// and a credit check, without a key and with one (the frames authenticated
// first, as Recv, waitCredit and answerHello do): they must never panic, an
// error names the link, and a decoded message fits the pool. The seeds are
// valid frames of every kind, payload and element type, chunked ones, and
// control frames, unsealed and sealed.
func FuzzDecode(f *testing.F) {
	e := newEndpoint("fz", 1, channels.Up)
	key := testKey(5)
	data, credit, hello := subjects(e)
	sealed := func(s *sealer, frame []byte) []byte {
		return s.seal(append(frame, make([]byte, trailerSize)...)[:len(frame)])
	}
	dataSeal := newSealer(key, data)
	msg := func(payload channels.Payload, rows, cols int) channels.Message[float64] {
		v := make([]float64, rows*cols)
		for i := range v {
			v[i] = specials[i%len(specials)]
		}
		return channels.Message[float64]{Kind: channels.Prediction, Step: 2, Payload: payload, Buf: &channels.Buffer[float64]{Rows: rows, Cols: cols, Data: v}}
	}
	msg32 := func(payload channels.Payload, rows, cols int) channels.Message[float32] {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = specials32[i%len(specials32)]
		}
		return channels.Message[float32]{Kind: channels.Prediction, Step: 2, Payload: payload, Buf: &channels.Buffer[float32]{Rows: rows, Cols: cols, Data: v}}
	}
	for _, p := range channels.Payloads() {
		fr := encodeFrames(e, 0, msg(p, 2, 3), 100)
		f.Add(fr[0], encodeFrames(e, 1, msg(p, 3, 3), 100)[0])
		f.Add(encodeFrames(e, 0, msg32(p, 2, 3), 100)[0], encodeFrames(e, 1, msg32(p, 3, 3), 100)[0])
	}
	chunked32 := encodeFrames(e, 0, msg32(channels.Full, 3, 3), 4)
	f.Add(chunked32[0], chunked32[1])
	f.Add(encodeFrames(e, 0, msg(channels.Full, 2, 3), 100)[0], chunked32[0]) // float64, then float32
	chunked := encodeFrames(e, 0, msg(channels.Full, 3, 3), 4)
	f.Add(chunked[0], chunked[1])
	f.Add(chunked[1], chunked[2])
	f.Add(e.controlFrame(make([]byte, headerSize), frameCredit, 2), e.controlFrame(make([]byte, headerSize), frameHello, 0))
	f.Add([]byte("PCNL"), []byte{})
	for _, p := range channels.Payloads() {
		f.Add(sealed(dataSeal, encodeFrames(e, 0, msg(p, 2, 3), 100)[0]), sealed(dataSeal, encodeFrames(e, 1, msg(p, 3, 3), 100)[0]))
	}
	chunkedSeal := newSealer(key, data)
	f.Add(sealed(chunkedSeal, chunked[0]), sealed(chunkedSeal, chunked[1]))
	f.Add(sealed(newSealer(key, credit), e.controlFrame(make([]byte, headerSize), frameCredit, 2)),
		sealed(newSealer(key, hello), e.controlFrame(make([]byte, headerSize), frameHello, 0)))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		d := newDecoder[float64](e, 2, 3, 3)
		keyed := newDecoder[float64](e, 2, 3, 3)
		keyed.open = newOpener(key, data, headerSize+8*9+trailerSize)
		feed(t, e, d, a, b)
		feed(t, e, keyed, a, b)
		d32 := newDecoder[float32](e, 2, 3, 3)
		keyed32 := newDecoder[float32](e, 2, 3, 3)
		keyed32.open = newOpener(key, data, headerSize+4*9+trailerSize)
		feed(t, e, d32, a, b)
		feed(t, e, keyed32, a, b)
		if _, err := e.checkCredit(a, 1, 2, false); err != nil && !strings.HasPrefix(err.Error(), e.name+": ") {
			t.Fatalf("credit error does not name the link: %v", err)
		}
		if newOpener(key, credit, headerSize+trailerSize).open(a) == accepted {
			if _, err := e.checkCredit(a, 1, 2, true); err != nil && !strings.HasPrefix(err.Error(), e.name+": ") {
				t.Fatalf("credit error does not name the link: %v", err)
			}
		}
		if newOpener(key, hello, headerSize+trailerSize).open(b) == accepted {
			var h header
			if parseHeader(b, &h, true) == nil && e.check(&h, frameHello) == nil && h.typ != frameHello {
				t.Fatalf("a %v frame passed as a hello", h.typ)
			}
		}
	})
}

// feed feeds frames to d as Recv does, until the first error.
func feed[T tensor.Float](t *testing.T, e endpoint, d *decoder[T], frames ...[]byte) {
	for _, frame := range frames {
		if d.accept(frame) != accepted {
			continue // dropped, as Recv drops it
		}
		m, done, err := d.feed(frame)
		if err != nil {
			if !strings.HasPrefix(err.Error(), e.name+": ") {
				t.Fatalf("error does not name the link: %v", err)
			}
			return
		}
		if done {
			if m.Buf.Rows < 1 || m.Buf.Rows > 3 || m.Buf.Cols < 1 || m.Buf.Cols > 3 || len(m.Buf.Value()) != m.Buf.Rows*m.Buf.Cols {
				t.Fatalf("decoded a %dx%d message from a 3x3 pool", m.Buf.Rows, m.Buf.Cols)
			}
			if h := frame[10]; elemType(h) != d.elem {
				t.Fatalf("a %v decoder decoded a frame of element type %d", d.elem, h)
			}
			d.release(m)
		}
	}
}

// TestFloatCodec: the copy of a little-endian host and the portable loop
// write the same bytes, little-endian, and read back the same bits, in both
// element types.
func TestFloatCodec(t *testing.T) {
	t.Run("float64", func(t *testing.T) {
		testFloatCodec(t, append([]float64{1}, specials...), []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f})
	})
	t.Run("float32", func(t *testing.T) {
		testFloatCodec(t, append([]float32{1}, specials32...), []byte{0, 0, 0x80, 0x3f})
	})
}

// testFloatCodec checks the codec on v, whose first value is 1 (one, its bytes).
func testFloatCodec[T tensor.Float](t *testing.T, v []T, one []byte) {
	size := int(elemOf[T]())
	require.Equal(t, len(one), size)
	fast, portable := make([]byte, size*len(v)), make([]byte, size*len(v))
	putFloats(fast, v)
	putFloatsPortable(portable, v)
	require.Equal(t, portable, fast)
	require.Equal(t, one, portable[:size], "1.0 little-endian")
	for _, get := range []func([]T, []byte){getFloats[T], getFloatsPortable[T]} {
		got := make([]T, len(v))
		get(got, portable)
		for i := range v {
			require.Equal(t, bitsOf(v[i]), bitsOf(got[i]))
		}
	}
	putFloats[T](nil, nil) // empty values are no-ops
	getFloats[T](nil, nil)
}
