package natslink

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
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

// unseal returns a copy of a sealed frame without its trailer and flag.
func unseal(frame []byte) []byte {
	f := append([]byte(nil), frame[:len(frame)-trailerSize]...)
	f[9] &^= flagAuth
	return f
}

// reseal returns a copy of a sealed frame sealed again by s, after edit
// changes its header or body (nil: unchanged).
func reseal(s *sealer, frame []byte, edit func(f []byte)) []byte {
	f := unseal(frame)
	if edit != nil {
		edit(f)
	}
	f = append(f, make([]byte, trailerSize)...)[:len(f)]
	return s.seal(f)
}

// published is a frame an attacker publishes and the rejection it must cause.
type published struct {
	subject string
	frame   []byte
	want    Rejected // Count 1; zero Kind: none expected (harmless)
}

// attack makes the frames an intruder publishes around a genuine frame of
// a process (i counts the genuine frames on that subject from 0; last says
// that no frame follows on it): before it and after it. Frames after a last
// one might never be read, so attacks send nothing after one.
type attack func(a *attacker, subject string, frame []byte, i int, last bool) (before, after []published)

type attacker struct {
	key, otherKey []byte
	upData        string // the subject of the up direction's data
	downData      string
	upCredit      string
	upHello       string
	session       *sealer // a sealer of another session with the run's key, on upData
	wrongKey      *sealer // a sealer under another key, on upData
	prev          map[string][]byte
}

// TestAttacksOnTheWire: an intruder on the server publishes forged, altered,
// moved, replayed, stale, truncated and oversize frames among a keyed link's
// genuine ones, each on the same connection just before or after a genuine
// frame (so the order is certain). The exchange ends with exactly the
// numbers of an in-process one, and every intruding frame is counted by
// kind and reason.
func TestAttacksOnTheWire(t *testing.T) {
	const rows, cols, steps = 5, 12, 40
	want := lockstep(t, inProcessPair(t, 1, rows, cols), rows, cols, steps)
	srv := startServer(t, natsconn.Server{})
	u32 := func(at int, v uint32) func([]byte) {
		return func(f []byte) { binary.LittleEndian.PutUint32(f[at:], v) }
	}
	onUp := func(mk func(a *attacker, frame []byte, i int) []byte, reason string, when func(i int, last bool) bool, after bool) attack {
		return func(a *attacker, subject string, frame []byte, i int, last bool) (before, afterF []published) {
			if subject != a.upData || !when(i, last) || after && last {
				return nil, nil
			}
			p := []published{{a.upData, mk(a, frame, i), Rejected{"data", reason, 1}}}
			if after {
				return nil, p
			}
			return p, nil
		}
	}
	lastOne := func(_ int, last bool) bool { return last }
	every := func(int, bool) bool { return true }
	tests := []struct {
		name   string
		attack attack
	}{
		{"forged with the sequence of the last real one, just before it", onUp(func(a *attacker, f []byte, _ int) []byte {
			return reseal(a.wrongKey, f, func(f []byte) { f[headerSize] ^= 0x40 })
		}, "mac", lastOne, false)},
		{"flipped bit", onUp(func(_ *attacker, f []byte, _ int) []byte {
			f = append([]byte(nil), f...)
			f[headerSize+3] ^= 1
			return f
		}, "mac", every, false)},
		{"flipped bit in the header", onUp(func(_ *attacker, f []byte, _ int) []byte {
			f = append([]byte(nil), f...)
			f[32] ^= 1 // the step
			return f
		}, "mac", every, false)},
		{"unauthenticated", func(a *attacker, subject string, frame []byte, i int, last bool) (before, after []published) {
			if subject != a.upData {
				return nil, nil
			}
			f, why := unseal(frame), "mac"
			if len(f) < headerSize+trailerSize {
				why = "malformed" // too short to be authenticated
			}
			return []published{{a.upData, f, Rejected{"data", why, 1}}}, nil
		}},
		{"chunk count 0", onUp(func(a *attacker, f []byte, _ int) []byte { return reseal(a.wrongKey, f, u32(52, 0)) }, "mac", every, false)},
		{"chunk count 4294967295", onUp(func(_ *attacker, f []byte, _ int) []byte {
			f = append([]byte(nil), f...)
			u32(52, 1<<32-1)(f)
			return f
		}, "mac", every, false)},
		{"replayed at once", onUp(func(_ *attacker, f []byte, _ int) []byte { return f }, "replay", every, true)},
		{"replayed later", onUp(func(a *attacker, f []byte, i int) []byte { return a.prev[a.upData] }, "replay", func(i int, _ bool) bool { return i > 0 }, false)},
		{"another session's frame", onUp(func(a *attacker, f []byte, _ int) []byte { return reseal(a.session, f, nil) }, "stale", func(i int, _ bool) bool { return i > 0 }, false)},
		{"truncated", onUp(func(_ *attacker, f []byte, _ int) []byte { return f[:len(f)-5] }, "malformed", every, false)},
		{"truncated to a header", onUp(func(_ *attacker, f []byte, _ int) []byte { return f[:headerSize] }, "malformed", every, false)},
		{"oversize", onUp(func(_ *attacker, f []byte, _ int) []byte {
			return append(append([]byte(nil), f...), make([]byte, 8*rows*cols)...)
		}, "oversize", every, false)},
		{"moved from the other direction", func(a *attacker, subject string, frame []byte, i int, last bool) (before, after []published) {
			if subject != a.downData || last {
				return nil, nil // the up receiver has read its last message before the last down frame
			}
			// Before the down frame, so that the up receiver reads it before its next message.
			return []published{{a.upData, frame, Rejected{"data", "mac", 1}}}, nil
		}},
		{"credits forged and replayed", func(a *attacker, subject string, frame []byte, i int, last bool) (before, after []published) {
			if subject != a.upCredit || i == 0 {
				return nil, nil // the first grant may be lost before the sender subscribes
			}
			forged := reseal(newSealer(a.otherKey, a.upCredit), frame, func(f []byte) { binary.LittleEndian.PutUint64(f[24:], 1<<40) })
			return []published{{a.upCredit, forged, Rejected{"credit", "mac", 1}}, {a.upCredit, a.prev[a.upCredit], Rejected{"credit", "replay", 1}}}, nil
		}},
		{"hellos forged", func(a *attacker, subject string, frame []byte, i int, last bool) (before, after []published) {
			if subject != a.upData {
				return nil, nil
			}
			return []published{{a.upHello, []byte("PCNL hello"), Rejected{"credit", "malformed", 1}}}, nil
		}},
	}
	// Chunked: 7 float64s a frame, so a 5 x 12 value takes 9 frames.
	const chunkFloats = 7
	frames := map[bool][2]int{false: {steps, steps}} // data frames up and down
	var chunkedFrames [2]int
	for _, r := range want {
		n := 1
		if channels.Payload(r[2]) == channels.Full {
			n = (rows*cols + chunkFloats - 1) / chunkFloats
		}
		if channels.Kind(r[0]) == channels.Prediction {
			chunkedFrames[0] += n
		} else {
			chunkedFrames[1] += n
		}
	}
	frames[true] = chunkedFrames
	for _, chunked := range []bool{false, true} {
		for i, tc := range tests {
			name := tc.name
			if chunked {
				name += ", chunked"
			}
			t.Run(name, func(t *testing.T) {
				o := Options{Run: fmt.Sprintf("attack%d%v", i, chunked), Buffers: 1, Key: testKey(uint64(i))}
				if chunked {
					o.MaxChunkBytes = headerSize + 8*chunkFloats + trailerSize
				}
				attackLink(t, srv, o, tc.attack, want, frames[chunked])
			})
		}
	}
}

// attackLink runs the lockstep exchange of 5 x 12 values for 40 steps over
// a keyed link (o) whose frames attack surrounds with its own. The exchange
// must give want, and every frame the attack added must be counted. frames
// are the data frames the exchange sends up and down.
func attackLink(t *testing.T, srv *natsconn.Embedded, o Options, attack attack, want [][]uint64, frames [2]int) {
	const rows, cols, steps = 5, 12, 40
	a := &attacker{key: o.Key, otherKey: testKey(1000), prev: map[string][]byte{}}
	up, down := newEndpoint(o.Run, 0, channels.Up), newEndpoint(o.Run, 0, channels.Down)
	a.upData, a.upCredit, a.upHello = subjects(up)
	a.downData, _, _ = subjects(down)
	a.session, a.wrongKey = newSealer(o.Key, a.upData), newSealer(a.otherKey, a.upData)
	var mu sync.Mutex
	expect := map[Rejected]uint64{}
	counts := map[string]int{}
	last := func(subject string, i int) bool {
		return subject == a.upData && i == frames[0]-1 || subject == a.downData && i == frames[1]-1
	}
	hook := func(nc *nats.Conn, subject string, frame []byte) error {
		mu.Lock()
		defer mu.Unlock()
		i := counts[subject]
		counts[subject]++
		before, after := attack(a, subject, append([]byte(nil), frame...), i, last(subject, i))
		// The hook runs on the publisher's goroutine, which may be a NATS callback
		// (a credit answering a hello) still running when the test has ended: it
		// returns a failed publish rather than fail t from there.
		for _, p := range before {
			if err := nc.Publish(p.subject, p.frame); err != nil {
				return err
			}
			expect[p.want]++
		}
		if err := nc.Publish(subject, frame); err != nil {
			return err
		}
		for _, p := range after {
			if err := nc.Publish(p.subject, p.frame); err != nil {
				return err
			}
			expect[p.want]++
		}
		a.prev[subject] = append([]byte(nil), frame...)
		return nil
	}
	p := hookedPair(t, dial(t, srv), dial(t, srv), o, rows, cols, hook)
	got := lockstep(t, p, rows, cols, steps)
	require.Equal(t, want, got, "the run's numbers")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, frames[0], counts[a.upData], "data frames up")
	all := map[Rejected]uint64{}
	for _, tr := range []*Transport[float64]{p.loT, p.hiT} {
		for _, r := range tr.Rejects().Counts() {
			all[Rejected{Kind: r.Kind, Reason: r.Reason, Count: 1}] += r.Count
		}
	}
	require.NotEmpty(t, expect, "the attack published nothing")
	for k, n := range expect {
		if k.Kind == "credit" {
			// A credit after the sender's last wait is never read.
			require.LessOrEqual(t, all[k], n, "%s/%s", k.Kind, k.Reason)
			require.Positive(t, all[k], "%s/%s", k.Kind, k.Reason)
		} else {
			require.Equal(t, n, all[k], "%s/%s counted", k.Kind, k.Reason)
		}
		delete(all, k)
	}
	require.Empty(t, all, "rejections of frames nobody forged")
}

// hookedPair is newPair with every frame each process publishes passed to
// hook, which publishes it and whatever an attacker adds on the process's
// connection: one connection, so the order is certain.
func hookedPair(t *testing.T, lowerConn, upperConn *nats.Conn, o Options, rows, cols int,
	hook func(nc *nats.Conn, subject string, frame []byte) error) pair {
	t.Helper()
	lo, hi := o, o
	lo.Lo, lo.Hi, hi.Lo, hi.Hi = 0, 0, 1, 1
	loT, hiT := newTransport(t, lowerConn, lo), newTransport(t, upperConn, hi)
	for _, tr := range []*Transport[float64]{loT, hiT} {
		nc := tr.nc
		tr.pub = func(subject string, frame []byte) error { return hook(nc, subject, frame) }
	}
	a, err := loT.Link(0, rows, cols, rows, cols)
	require.NoError(t, err)
	b, err := hiT.Link(0, rows, cols, rows, cols)
	require.NoError(t, err)
	return pair{lo: a, hi: b, loT: loT, hiT: hiT}
}

// TestMessageAttacks: a keyed reader among forged, altered, moved,
// replayed, stale, truncated and oversize frames hands out exactly the
// genuine messages, byte for byte and in order, and counts every other
// frame by reason; a genuine message beyond its bound is an error before
// anything is allocated for it.
func TestMessageAttacks(t *testing.T) {
	const maxFrame = headerSize + minMessageChunk + trailerSize
	const bound = 4 * minMessageChunk
	key := testKey(7)
	o := MessageOptions{Subject: testSubject, Key: key}
	writer := func(o MessageOptions) *MessageWriter {
		w, err := NewMessageWriter("r1", 2, maxFrame, o)
		require.NoError(t, err)
		return w
	}
	body := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	w := writer(o)
	var bodies [][]byte
	var genuine [][][]byte // frames of each message
	for i, n := range []int{10, 3*minMessageChunk + 5, 0, 2 * minMessageChunk, 7} {
		bodies = append(bodies, body(n, byte(i+1)))
		genuine = append(genuine, messageFrames(t, w, bodies[i]))
	}
	flat := func() [][]byte {
		var out [][]byte
		for _, fs := range genuine {
			out = append(out, fs...)
		}
		return out
	}()
	sessionW, wrongKeyW, movedW, plainW := writer(o), writer(MessageOptions{Subject: testSubject, Key: testKey(8)}),
		writer(MessageOptions{Subject: testSubject + ".report", Key: key}), writer(MessageOptions{Subject: testSubject})
	// sameSeq writes filler messages with w until the next is number seq, then body.
	sameSeq := func(w *MessageWriter, seq uint64, b []byte) []byte {
		for w.next < seq {
			messageFrames(t, w, nil)
		}
		return messageFrames(t, w, b)[0]
	}
	edit := func(f []byte, at int, v uint32) []byte {
		f = append([]byte(nil), f...)
		binary.LittleEndian.PutUint32(f[at:], v)
		return f
	}
	tests := []struct {
		name   string
		before func(i int) []byte // published before genuine frame i (nil: nothing)
		reason string
	}{
		{"forged with the sequence of the last real one, just before it", func(i int) []byte {
			if i != len(flat)-1 {
				return nil
			}
			return sameSeq(wrongKeyW, 4, body(7, 0xee))
		}, "mac"},
		{"flipped bit", func(i int) []byte {
			f := append([]byte(nil), flat[i]...)
			f[len(f)-trailerSize-1] ^= 0x80
			return f
		}, "mac"},
		{"moved from another subject", func(i int) []byte { return messageFrames(t, movedW, body(3, 9))[0] }, "mac"},
		{"unauthenticated", func(i int) []byte { return messageFrames(t, plainW, body(50, 9))[0] }, "mac"},
		{"chunk count 0", func(i int) []byte { return edit(flat[i], 52, 0) }, "mac"},
		{"chunk count 4294967295", func(i int) []byte { return edit(flat[i], 52, 1<<32-1) }, "mac"},
		{"replayed", func(i int) []byte {
			if i == 0 {
				return nil
			}
			return flat[i-1]
		}, "replay"},
		{"replayed from long ago", func(i int) []byte {
			if i < 2 {
				return nil
			}
			return flat[0]
		}, "replay"},
		{"another session", func(i int) []byte {
			if i == 0 {
				return nil // before the first genuine frame the reader follows whichever session comes first
			}
			return messageFrames(t, sessionW, body(5, 9))[0]
		}, "stale"},
		{"truncated", func(i int) []byte { return flat[i][:len(flat[i])-1] }, "malformed"},
		{"too short", func(i int) []byte { return flat[i][:headerSize+trailerSize-1] }, "malformed"},
		{"oversize", func(i int) []byte { return make([]byte, headerSize+bound+trailerSize+1) }, "oversize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rejects := NewRejects(nil)
			r, err := NewMessageReader("r1", 2, MessageOptions{Subject: testSubject, Key: key, MaxMessage: bound, Rejects: rejects})
			require.NoError(t, err)
			var got [][]byte
			forged := 0
			for i, f := range flat {
				if b := tc.before(i); b != nil {
					m, done, err := r.Feed(b)
					require.NoError(t, err, "frame %d", i)
					require.False(t, done)
					require.Nil(t, m)
					forged++
				}
				m, done, err := r.Feed(f)
				require.NoError(t, err, "frame %d", i)
				if done {
					got = append(got, append([]byte{}, m...))
				}
			}
			require.Equal(t, bodies, got)
			require.Equal(t, []Rejected{{"message", tc.reason, uint64(forged)}}, rejects.Counts())
		})
	}
	t.Run("genuine beyond the bound", func(t *testing.T) {
		r, err := NewMessageReader("r1", 2, MessageOptions{Subject: testSubject, Key: key, MaxMessage: bound})
		require.NoError(t, err)
		big := messageFrames(t, writer(o), body(bound+1, 1))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err = r.Feed(big[0])
		runtime.ReadMemStats(&after)
		require.EqualError(t, err, "natslink: run r1 messages of node 2: message 0 of 4097 bytes; the most it can get is 4096")
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<10), "bytes allocated")
	})
}

// TestFloodBounded: a flood of forged chunks (a million, of 1 KiB each,
// claiming a 4 GiB message) at a keyed message reader and at a keyed
// link's decoder is dropped frame by frame: the heap in use after it is
// what it was before, give or take, and the genuine message after the
// flood still arrives.
func TestFloodBounded(t *testing.T) {
	const frames = 1 << 20
	key := testKey(11)
	w, err := NewMessageWriter("r1", 2, headerSize+minMessageChunk+trailerSize, MessageOptions{Subject: testSubject, Key: testKey(12)})
	require.NoError(t, err)
	forged := messageFrames(t, w, make([]byte, 2*minMessageChunk))[0]
	binary.LittleEndian.PutUint64(forged[32:], MaxMessage)
	binary.LittleEndian.PutUint32(forged[52:], 1<<22)
	real, err := NewMessageWriter("r1", 2, 1<<20, MessageOptions{Subject: testSubject, Key: key})
	require.NoError(t, err)
	genuine := messageFrames(t, real, []byte("after the flood"))[0]

	e := newEndpoint("r1", 0, channels.Up)
	data := subjectsData(e)
	decoder := newDecoder[float64](e, 1, 64, 16)
	decoder.open = newOpener(key, data, headerSize+8*64*16+trailerSize)
	value := encodeFrames(e, 0, channels.Message[float64]{Kind: channels.Prediction, Buf: &channels.Buffer[float64]{Rows: 64, Cols: 16, Data: make([]float64, 64*16)}}, 1<<20)[0]
	wrong := newSealer(testKey(12), data)
	forgedData := reseal(wrong, append(value, make([]byte, trailerSize)...), nil)

	for _, tc := range []struct {
		name   string
		frames int
		flood  func()
	}{
		{"message reader", frames, func() {
			rejects := NewRejects(nil)
			r, err := NewMessageReader("r1", 2, MessageOptions{Subject: testSubject, Key: key, MaxMessage: MaxMessage, Rejects: rejects})
			require.NoError(t, err)
			for range frames {
				if _, _, err := r.Feed(forged); err != nil {
					t.Fatal(err)
				}
			}
			m, done, err := r.Feed(genuine)
			require.NoError(t, err)
			require.True(t, done)
			require.Equal(t, "after the flood", string(m))
			require.Equal(t, []Rejected{{"message", "mac", frames}}, rejects.Counts())
		}},
		{"link decoder", frames / 16, func() {
			for range frames / 16 { // 8 KiB frames: 512 MiB in all
				require.Equal(t, reasonMAC, decoder.accept(forgedData))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tc.flood()
			runtime.GC()
			runtime.ReadMemStats(&after)
			perFrame := float64(after.TotalAlloc-before.TotalAlloc) / float64(tc.frames)
			t.Logf("heap in use %d KiB before, %d KiB after; %.2f bytes allocated a frame", before.HeapInuse>>10, after.HeapInuse>>10, perFrame)
			require.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(1<<20), "heap growth")
			require.Less(t, perFrame, 1.0, "bytes allocated a forged frame")
		})
	}
}

// subjectsData is the data subject of e.
func subjectsData(e endpoint) string {
	d, _, _ := subjects(e)
	return d
}

// TestFloodOnTheWire: a flood of forged frames (4,000 of 8 KiB, 32 MiB) on
// a keyed link's data subject while its receiver is not reading overflows
// the client's queue, which holds only what the link's credits allow and a
// margin (17 frames here): the receiver's next Recv is one error naming the
// slow consumer (a frame of the run may be lost), not a hang. The heap is
// logged, not checked: the embedded server in this process buffers part of
// the flood for the slow client (TestFloodBounded checks the receiver's own
// memory).
func TestFloodOnTheWire(t *testing.T) {
	const rows, cols, flood = 64, 16, 4000
	srv := startServer(t, natsconn.Server{})
	key := testKey(21)
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "flood", Buffers: 1, Key: key}, 0, rows, cols)
	up := newEndpoint("flood", 0, channels.Up)
	data := subjectsData(up)
	v := encodeFrames(up, 0, channels.Message[float64]{Kind: channels.Prediction, Buf: &channels.Buffer[float64]{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}}, 1<<20)[0]
	forged := reseal(newSealer(testKey(22), data), append(v, make([]byte, trailerSize)...), nil)
	intruder := dial(t, srv)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range flood {
		require.NoError(t, intruder.Publish(data, forged))
	}
	require.NoError(t, intruder.Flush())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for err == nil {
		var m channels.Message[float64]
		if m, err = p.hi.UpRecv.Recv(ctx); err == nil {
			p.hi.UpRecv.Release(m)
		}
	}
	require.NoError(t, ctx.Err(), "Recv returned before the deadline")
	require.ErrorContains(t, err, "natslink: run flood link 0-1 up: ")
	require.ErrorContains(t, err, "slow consumer")
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap in use %d KiB before the flood, %d KiB after (the server's buffers included)", before.HeapInuse>>10, after.HeapInuse>>10)
	require.Equal(t, 17, cap(p.hi.UpRecv.(*recvEnd[float64]).frames), "the client's queue of the receiver")
}

// TestRejectsCountAndWarnOnce: counts add up by kind and reason, in a fixed
// order, and each kind is logged once, at its first rejection, naming the
// receiver and the reason.
func TestRejectsCountAndWarnOnce(t *testing.T) {
	var lines []string
	r := NewRejects(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) })
	for _, a := range []struct {
		k   frameKind
		why reason
	}{{kindMessage, reasonReplay}, {kindData, reasonMAC}, {kindData, reasonMAC}, {kindData, reasonOversize}, {kindMessage, reasonMAC}, {kindCredit, reasonStale}} {
		r.add(a.k, a.why, "natslink: run r1 link 0-1 up")
	}
	require.Equal(t, []Rejected{
		{"data", "mac", 2}, {"data", "oversize", 1}, {"credit", "stale", 1}, {"message", "mac", 1}, {"message", "replay", 1},
	}, r.Counts())
	require.Equal(t, []string{
		"natslink: run r1 link 0-1 up: dropped a message frame: its counter was already seen (replayed); later message frames dropped are counted, not logged",
		"natslink: run r1 link 0-1 up: dropped a data frame: authentication failed (forged, altered, under another key, or moved from another subject); later data frames dropped are counted, not logged",
		"natslink: run r1 link 0-1 up: dropped a credit frame: an authentic frame of another publisher session (recorded earlier and replayed); later credit frames dropped are counted, not logged",
	}, lines)
	require.Empty(t, NewRejects(nil).Counts())
}

// TestKeyLength: a key is KeySize bytes or nil.
func TestKeyLength(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	_, err := New[float64](dial(t, srv), Options{Run: "k", Key: make([]byte, 31)})
	require.EqualError(t, err, "natslink: run k: run key of 31 bytes; it must have 32")
}

// TestSealedChunks: with a key a value of more than 128 KiB travels in chunks of at
// most that (sealedChunk), and an end that chunks otherwise (here by the server's max
// payload, as builds before sealedChunk did) still reads them, and is read, both ways.
func TestSealedChunks(t *testing.T) {
	const rows, cols = 64, 300 // 150 KiB in float64: two sealed chunks, one frame otherwise
	srv := startServer(t, natsconn.Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := Options{Run: "sealedchunks", Buffers: 1, Key: testKey(8)}
	lo, hi := o, o
	lo.Lo, lo.Hi, lo.MaxChunkBytes = 0, 0, 1<<20
	hi.Lo, hi.Hi = 1, 1
	loT, hiT := newTransport(t, dial(t, srv), lo), newTransport(t, dial(t, srv), hi)
	var frames []int // the frames' lengths on the up and down subjects, as published
	var mu sync.Mutex
	for _, tr := range []*Transport[float64]{loT, hiT} {
		pub := tr.pub
		tr.pub = func(subject string, frame []byte) error {
			if strings.HasSuffix(subject, ".up") || strings.HasSuffix(subject, ".down") {
				mu.Lock()
				frames = append(frames, len(frame))
				mu.Unlock()
			}
			return pub(subject, frame)
		}
	}
	a, err := loT.Link(0, rows, cols, rows, cols)
	require.NoError(t, err)
	b, err := hiT.Link(0, rows, cols, rows, cols)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(8, 8))
	for step, dir := range []struct {
		send channels.Sender[float64]
		recv channels.Receiver[float64]
		kind channels.Kind
	}{{a.UpSend, b.UpRecv, channels.Prediction}, {b.DownSend, a.DownRecv, channels.Error}} {
		v := randomValue(rng, rows*cols)
		require.NoError(t, send(ctx, dir.send, dir.kind, step, channels.Full, rows, cols, v))
		m, err := dir.recv.Recv(ctx)
		require.NoError(t, err)
		requireBits(t, v, m.Buf.Value())
		dir.recv.Release(m)
	}
	body := 8 * rows * cols
	chunk := sealedChunk / 8 * 8
	require.Equal(t, []int{headerSize + body + trailerSize, headerSize + chunk + trailerSize, headerSize + body - chunk + trailerSize}, frames,
		"up: one frame (the max payload's chunks); down: two sealed chunks")
	require.Empty(t, loT.Rejects().Counts())
	require.Empty(t, hiT.Rejects().Counts())
}

// stdlibSubkey is a publisher's subkey as crypto/cipher's AES-256-GCM, derived
// here independently of auth.go: what a peer built before internal/gmac
// used, and what any other implementation of the wire format would use.
func stdlibSubkey(t testing.TB, key, salt []byte, subject string) cipher.AEAD {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pcnet natslink gmac v1\x00"))
	m.Write(salt)
	m.Write([]byte(subject))
	block, err := aes.NewCipher(m.Sum(nil))
	require.NoError(t, err)
	g, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return g
}

// TestStdlibGCMInteroperates: a frame sealed by a sealer opens with
// crypto/cipher's GCM under the same subkey, and a frame sealed with
// crypto/cipher's GCM is accepted by an opener: internal/gmac's tags are
// GCM's, so peers of builds before it (and the wire format) are unchanged.
func TestStdlibGCMInteroperates(t *testing.T) {
	const subject = "pcnet.interop.link.0.up"
	key := testKey(31)
	rng := rand.New(rand.NewPCG(31, 1))
	for _, body := range []int{0, 8, 8 * 3, 8 * 64 * 64, 8 * 64 * 100, sealedChunk / 8 * 8} {
		t.Run(fmt.Sprint(body), func(t *testing.T) {
			frame := func() []byte {
				f := make([]byte, headerSize+body, headerSize+body+trailerSize)
				for i := range f {
					f[i] = byte(rng.Uint32())
				}
				copy(f, magic[:])
				f[4] = wireVersion
				f[9] = 0
				binary.LittleEndian.PutUint32(f[60:], uint32(body))
				return f
			}
			n := headerSize + body
			var nonce [12]byte

			// Sealed here, opened by the stdlib.
			s := newSealer(key, subject)
			g := stdlibSubkey(t, key, s.salt[:], subject)
			for counter := range uint64(3) {
				f := s.seal(frame())
				require.Equal(t, counter, binary.LittleEndian.Uint64(f[n+saltSize:]))
				binary.LittleEndian.PutUint64(nonce[:], counter)
				_, err := g.Open(nil, nonce[:], f[n+saltSize+counterSize:], f[:n+saltSize+counterSize])
				require.NoError(t, err, "counter %d", counter)
			}

			// Sealed by the stdlib, opened here.
			o := newOpener(key, subject, headerSize+body+trailerSize)
			salt := make([]byte, saltSize)
			for i := range salt {
				salt[i] = byte(rng.Uint32())
			}
			g = stdlibSubkey(t, key, salt, subject)
			for counter := range uint64(3) {
				f := frame()
				f[9] |= flagAuth
				f = append(f, salt...)
				f = binary.LittleEndian.AppendUint64(f, counter)
				binary.LittleEndian.PutUint64(nonce[:], counter)
				f = g.Seal(f, nonce[:], nil, f)
				require.Equal(t, accepted, o.open(f), "counter %d", counter)
				f[n+trailerSize-1] ^= 1 // the tag's last byte
				require.Equal(t, reasonMAC, o.open(f), "counter %d, altered tag", counter)
			}
		})
	}
}
