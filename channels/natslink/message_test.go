package natslink

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
)

// messageFrames writes bodies with w and returns every frame, copied.
func messageFrames(t testing.TB, w *MessageWriter, bodies ...[]byte) [][]byte {
	t.Helper()
	var frames [][]byte
	for _, b := range bodies {
		require.NoError(t, w.Write(b, func(f []byte) error {
			frames = append(frames, append([]byte(nil), f...))
			return nil
		}))
	}
	return frames
}

// testSubject is the subject of the message tests' writers and readers.
const testSubject = "pcnet.r1.node.2.cmd"

// newTestWriter makes a writer without authentication (no key: these tests
// check the framing; auth_test.go checks the keyed writers).
func newTestWriter(t testing.TB, run string, node, maxFrame int) *MessageWriter {
	t.Helper()
	w, err := NewMessageWriter(run, node, maxFrame, MessageOptions{Subject: testSubject})
	require.NoError(t, err)
	return w
}

// newTestReader makes a reader without authentication bounded by MaxMessage.
func newTestReader(t testing.TB, run string, node int) *MessageReader {
	t.Helper()
	r, err := NewMessageReader(run, node, MessageOptions{Subject: testSubject, MaxMessage: MaxMessage})
	require.NoError(t, err)
	return r
}

// TestMessageRoundTrip: messages of every size about a frame's, chunked or not, come
// out of the reader byte for byte, in order, each when its last frame arrives; a
// reader that joins after the writer's first messages starts at the first it sees.
func TestMessageRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	const maxFrame = headerSize + minMessageChunk
	for _, skip := range []int{0, 2} {
		w := newTestWriter(t, "r1", 3, maxFrame)
		r := newTestReader(t, "r1", 3)
		var sizes []int
		for _, n := range []int{0, 1, minMessageChunk - 1, minMessageChunk, minMessageChunk + 1, 3*minMessageChunk + 5, 7} {
			sizes = append(sizes, n)
		}
		for i, n := range sizes {
			body := make([]byte, n)
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
			frames := messageFrames(t, w, body)
			require.Len(t, frames, max(1, (n+minMessageChunk-1)/minMessageChunk), "frames of a %d-byte message", n)
			if i < skip {
				continue // published before the reader subscribed
			}
			for k, f := range frames {
				got, done, err := r.Feed(f)
				require.NoError(t, err)
				require.Equal(t, k == len(frames)-1, done, "chunk %d of %d", k, len(frames))
				if !done {
					require.Nil(t, got)
					continue
				}
				require.True(t, bytes.Equal(body, got), "message %d of %d bytes", i, n)
			}
		}
	}
}

func TestMessageWriterRejects(t *testing.T) {
	o := MessageOptions{Subject: testSubject}
	_, err := NewMessageWriter("r 1", 0, 1<<20, o)
	require.EqualError(t, err, `natslink: run ID "r 1": character ' ' is not one of A-Z a-z 0-9 _ -`)
	_, err = NewMessageWriter("r1", -1, 1<<20, o)
	require.EqualError(t, err, "natslink: run r1: messages of node -1: node is negative")
	_, err = NewMessageWriter("r1", 0, headerSize+minMessageChunk-1, o)
	require.EqualError(t, err, "natslink: run r1: frames of 1095 bytes cannot hold the 72-byte header, a chunk of 1024 bytes and a 0-byte trailer")
	_, err = NewMessageWriter("r1", 0, headerSize+minMessageChunk+10, MessageOptions{Subject: testSubject, Key: testKey(1)})
	require.EqualError(t, err, "natslink: run r1: frames of 1106 bytes cannot hold the 72-byte header, a chunk of 1024 bytes and a 40-byte trailer")
	_, err = NewMessageWriter("r1", 0, 1<<20, MessageOptions{Subject: testSubject, Key: make([]byte, 16)})
	require.EqualError(t, err, "natslink: run r1: run key of 16 bytes; it must have 32")
	_, err = NewMessageWriter("r1", 0, 1<<20, MessageOptions{})
	require.EqualError(t, err, "natslink: run r1: messages of node 0: no subject")
	_, err = NewMessageReader("r1", 0, MessageOptions{Subject: testSubject})
	require.EqualError(t, err, "natslink: run r1: messages of node 0: a bound of 0 bytes; it must be 1 to 4294967296")
}

// TestMessageReaderRejects: every bound of the reader, every stale, reordered, lost or
// foreign frame, is one error naming the run, the subject's node and what is wrong;
// the error sticks.
func TestMessageReaderRejects(t *testing.T) {
	const maxFrame = headerSize + minMessageChunk
	w := newTestWriter(t, "r1", 2, maxFrame)
	body := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	m0 := messageFrames(t, w, body(10))                   // message 0, one frame
	m1 := messageFrames(t, w, body(2*minMessageChunk+10)) // message 1, three frames
	m2 := messageFrames(t, w, body(5))                    // message 2
	edit := func(f []byte, at int, b ...byte) []byte {
		f = append([]byte(nil), f...)
		copy(f[at:], b)
		return f
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	other := newTestWriter(t, "r2", 2, maxFrame)
	otherNode := newTestWriter(t, "r1", 5, maxFrame)
	tests := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"empty", [][]byte{{}}, "truncated frame: 0 bytes"},
		{"truncated header", [][]byte{m0[0][:30]}, "truncated frame: 30 bytes, shorter than the 72-byte header"},
		{"truncated body", [][]byte{m0[0][:headerSize+4]}, "truncated frame: body of 4 bytes, the header says 10"},
		{"magic", [][]byte{edit(m0[0], 0, 'P', 'N', 'C', 'L')}, `not a pcnet link frame: magic "PNCL"`},
		{"version", [][]byte{edit(m0[0], 4, 1)}, "wire version 1, this build speaks 4"},
		{"data frame", [][]byte{edit(m0[0], 5, byte(frameData))}, "a data frame where a message frame belongs"},
		{"other run", [][]byte{messageFrames(t, other, body(3))[0]}, "frame of another run"},
		{"other node", [][]byte{messageFrames(t, otherNode, body(3))[0]}, "frame of link 5-6"},
		{"kind", [][]byte{edit(m0[0], 7, 1)}, "a message frame's kind, payload, rows, cols and time must be 0"},
		{"time", [][]byte{edit(m0[0], 64, 1)}, "must be 0"},
		{"negative length", [][]byte{edit(m0[0], 32, u64(1<<63)...)}, "message 0 of -9223372036854775808 bytes; the most it can get is 4294967296"},
		{"beyond the most", [][]byte{edit(m0[0], 32, u64(MaxMessage+1)...)}, "message 0 of 4294967297 bytes; the most it can get is 4294967296"},
		{"no chunks", [][]byte{edit(m0[0], 52, u32(0)...)}, "message 0: chunk 0 of 0"},
		{"every chunk", [][]byte{edit(m0[0], 52, u32(1<<32-1)...)}, "message 0: chunk 0 of 4294967295 has 10 bytes of a 10-byte message"},
		{"every chunk of the most", [][]byte{edit(edit(m1[0], 52, u32(1<<32-1)...), 32, u64(MaxMessage)...)}, "message 1: 4294967295 chunks of 1024 bytes cannot make a 4294967296-byte message"},
		{"chunk of chunks", [][]byte{edit(m0[0], 48, u32(1)...)}, "message 0: chunk 1 of 1"},
		{"length disagrees with body", [][]byte{edit(m0[0], 32, u64(11)...)}, "the last chunk ends at byte 10 of 11"},
		{"empty with a body", [][]byte{edit(m0[0], 32, u64(0)...)}, "an empty message is one frame without a body, not chunk 0 of 1 with 10 bytes"},
		{"small chunks", [][]byte{edit(edit(m0[0], 52, u32(2)...), 32, u64(20)...)}, "2 chunks of 10 bytes cannot make a 20-byte message"},
		{"chunk count", [][]byte{edit(m1[0], 52, u32(4)...)}, "4 chunks of 1024 bytes cannot make a 2058-byte message"},
		{"first chunk offset", [][]byte{edit(m1[0], 56, u32(1)...)}, "message 1: its first chunk starts at byte 1"},
		{"chunk ends early", [][]byte{edit(m0[0], 52, u32(2)...)}, "chunk 0 of 2 already ends the value"},
		{"chunk beyond", [][]byte{m0[0], m1[0], edit(m1[1], 56, u32(2000)...)}, "chunk 1 of 3 covers bytes 2000 to 3024 of a 2058-byte message"},
		{"chunk offset", [][]byte{m0[0], m1[0], edit(m1[1], 56, u32(1000)...)}, "message 1: chunk 1 starts at byte 1000, after 1024 received"},
		{"chunk disagrees", [][]byte{m0[0], m1[0], edit(m1[1], 32, u64(2059)...)}, "chunk 1 (1024 bytes of 2059) disagrees with its first chunk (1024 bytes of 2058)"},
		{"missing chunk", [][]byte{m0[0], m1[0], m1[1], m2[0]}, "message 2 begins while chunk 2 of 3 of message 1 is missing"},
		{"chunk without first", [][]byte{m1[1]}, "chunk 1 of 3 of message 1 without its first chunk"},
		{"reordered chunks", [][]byte{m0[0], m1[0], m1[2]}, "chunk 2 of 3 of message 1 where chunk 1 of 3 of message 1 belongs"},
		{"stale chunk", [][]byte{m0[0], m1[0], m1[1], m1[1]}, "chunk 1 of 3 of message 1 where chunk 2 of 3 of message 1 belongs"},
		{"stale message", [][]byte{m0[0], m0[0]}, "message 0 out of order: expected message 1"},
		{"reordered messages", [][]byte{m0[0], m2[0]}, "message 2 out of order: expected message 1"},
		{"stale after more", [][]byte{m0[0], m1[0], m1[1], m1[2], m0[0]}, "message 0 out of order: expected message 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestReader(t, "r1", 2)
			var err error
			for _, f := range tc.frames {
				if _, _, err = r.Feed(f); err != nil {
					break
				}
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "natslink: run r1 messages of node 2: "), err.Error())
			_, _, again := r.Feed(m2[0])
			require.Equal(t, err, again, "the error sticks")
		})
	}
}

// TestMessageClaimsAllocateNothing: a frame that claims a message of the most bytes in
// the most chunks is refused, and one that claims a large message allocates only what
// arrived, not what it claims.
func TestMessageClaimsAllocateNothing(t *testing.T) {
	w := newTestWriter(t, "r1", 0, headerSize+minMessageChunk)
	first := messageFrames(t, w, make([]byte, 2*minMessageChunk))[0]
	claim := func(chunks uint32, total uint64) []byte {
		f := append([]byte(nil), first...)
		binary.LittleEndian.PutUint32(f[52:], chunks)
		binary.LittleEndian.PutUint64(f[32:], total)
		return f
	}
	for _, tc := range []struct {
		name    string
		frame   []byte
		refused bool
	}{
		{"4294967295 chunks", claim(1<<32-1, 1<<32-1), true},
		{"4 GiB in 1 KiB chunks", claim(1<<22, MaxMessage), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := newTestReader(t, "r1", 0)
			_, _, err := r.Feed(tc.frame)
			runtime.ReadMemStats(&after)
			require.Equal(t, tc.refused, err != nil, "error %v", err)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "bytes allocated")
		})
	}
}

// FuzzMessageReader feeds three arbitrary frames to a reader without a key and to
// one with a key: it never panics, an error names the run and node, and a message it
// completes is as long as it claims. Run it with -fuzzminimizetime 100x: its seeds are
// kilobytes, which Go's minimiser would otherwise take 60 s over for each new input
// (docs/distributed.md, Fuzzing the decoders).
func FuzzMessageReader(f *testing.F) {
	key := testKey(6)
	for _, k := range [][]byte{nil, key} {
		w, err := NewMessageWriter("fz", 1, headerSize+minMessageChunk+trailerOf(k), MessageOptions{Subject: testSubject, Key: k})
		if err != nil {
			f.Fatal(err)
		}
		var frames [][]byte
		for _, n := range []int{0, 9, 2*minMessageChunk + 3} {
			_ = w.Write(make([]byte, n), func(fr []byte) error {
				frames = append(frames, append([]byte(nil), fr...))
				return nil
			})
		}
		f.Add(frames[0], frames[1], frames[2])
		f.Add(frames[2], frames[3], frames[4])
		f.Add(frames[1], frames[3], frames[2])
	}
	f.Add([]byte("PCNL"), []byte{}, []byte(nil))
	r0 := newTestReader(f, "fz", 1)
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		keyed, err := NewMessageReader("fz", 1, MessageOptions{Subject: testSubject, Key: key, MaxMessage: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*MessageReader{newTestReader(t, "fz", 1), keyed} {
			fuzzMessages(t, r, r0.e.name, a, b, c)
		}
	})
}

// fuzzMessages feeds frames to r until the first error.
func fuzzMessages(t *testing.T, r *MessageReader, name string, frames ...[]byte) {
	for _, frame := range frames {
		m, done, err := r.Feed(frame)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+": ") {
				t.Fatalf("error does not name the run and node: %v", err)
			}
			return
		}
		if done && uint64(len(m)) != uint64(r.asm.first.step) {
			t.Fatalf("a message of %d bytes claimed %d", len(m), r.asm.first.step)
		}
	}
}

// TestZeroChunksRefused: a frame that claims its message has no chunks is refused for
// that, by the links' decoder and by the message reader alike.
func TestZeroChunksRefused(t *testing.T) {
	e := newEndpoint("r1", 2, channels.Up)
	data := encodeFrames(e, 0, channels.Message[float64]{Kind: channels.Prediction, Buf: &channels.Buffer[float64]{Rows: 1, Cols: 2, Data: []float64{1, 2}}}, 4)[0]
	binary.LittleEndian.PutUint32(data[52:], 0)
	_, _, err := newDecoder[float64](e, 1, 1, 2).feed(data)
	require.EqualError(t, err, "natslink: run r1 link 2-3 up: message 0: chunk 0 of 0")

	msg := messageFrames(t, newTestWriter(t, "r1", 2, 1<<20), []byte("hello"))[0]
	binary.LittleEndian.PutUint32(msg[52:], 0)
	_, _, err = newTestReader(t, "r1", 2).Feed(msg)
	require.EqualError(t, err, "natslink: run r1 messages of node 2: message 0: chunk 0 of 0")
}
