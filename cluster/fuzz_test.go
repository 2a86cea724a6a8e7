package cluster

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/spec"
)

// framesOf sends ms on one subject of run through a sender with frames of maxFrame
// bytes, and returns the frames of each.
func framesOf(t testing.TB, run string, maxFrame int, ms ...*message) [][][]byte {
	s := &sender{run: run, key: testKey, maxFrame: maxFrame, writers: map[string]*natslink.MessageWriter{}}
	var frames [][]byte
	s.publish = func(m *nats.Msg) error {
		frames = append(frames, append([]byte(nil), m.Data...))
		return nil
	}
	var out [][][]byte
	for _, m := range ms {
		if err := s.send("x", 1, m); err != nil {
			t.Fatal(err)
		}
		out, frames = append(out, frames), nil
	}
	return out
}

// testReceiver reads the messages that framesOf sends (subject "x").
func testReceiver(t testing.TB, run string, lo int) *receiver {
	r, err := newReceiver(run, lo, "x", testKey, unlimited, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzAssemble: whatever arrives on a run's command or report subject (foreign,
// truncated, stale, reordered or malformed chunks, bad gob) is an error or a message,
// never a panic. Run it with -fuzzminimizetime 100x, as FuzzMessageBody.
func FuzzAssemble(f *testing.F) {
	big := &message{Kind: kindBatch, Seq: 3, Rows: 2, X: floatBytes(make([]float64, 300)), Labels: []int{1, 0}}
	both := framesOf(f, "fz", 1140, big, &message{Kind: kindStop})
	frames := append(both[0], both[1]...)
	for _, fr := range frames {
		f.Add(fr, fr)
	}
	f.Add(frames[0], frames[len(frames)-1])
	f.Add(frames[len(frames)-1], frames[0])
	f.Add([]byte("PCNL"), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		r := testReceiver(t, "fz", 1)
		for _, fr := range [][]byte{a, b} {
			m, err := r.feed(fr)
			if err != nil && m != nil {
				t.Fatalf("both a message and an error: %v", err)
			}
		}
	})
}

// TestReceiverRejects: a command or report that is chunked is assembled; a frame that
// fails the run key's MAC (foreign, altered) or repeats a message (stale, replayed) is
// dropped and counted; one of another run or out of order is an error naming what is
// wrong. (Every bound of the framing is natslink's TestMessageReaderRejects.)
func TestReceiverRejects(t *testing.T) {
	m := &message{Kind: kindReport, Seq: 9, Fault: "a fault", X: floatBytes(make([]float64, 300))}
	both := framesOf(t, "r1", 1140, m, &message{Kind: kindStop})
	frames, stop := both[0], both[1]
	require.Greater(t, len(frames), 2, "the test needs a chunked message")
	r := testReceiver(t, "r1", 1)
	for i, fr := range append(frames, stop...) {
		got, err := r.feed(fr)
		require.NoError(t, err)
		switch i {
		case len(frames) - 1:
			require.Equal(t, kindReport, got.Kind)
			require.Equal(t, uint64(9), got.Seq)
			require.Equal(t, "a fault", got.Fault)
		case len(frames) + len(stop) - 1:
			require.Equal(t, kindStop, got.Kind)
		default:
			require.True(t, got == nil, "chunk %d", i)
		}
	}
	garbage := append([]byte(nil), framesOf(t, "r1", 1<<20, &message{Kind: kindStop})[0][0]...)
	garbage = append(garbage[:len(garbage)-3], 0xde, 0xad, 0xbe)
	// Under the run key natslink drops, and counts, a frame that is not genuine or
	// repeats one already taken (dropped: the reason); what is genuine but out of place
	// is an error (want).
	for _, tc := range []struct {
		name          string
		frames        [][]byte
		want, dropped string
	}{
		{"foreign", [][]byte{[]byte("hello")}, "", "malformed"},
		{"other run", [][]byte{framesOf(t, "r2", 1140, m)[0][0]}, "frame of another run", ""},
		{"reordered chunks", [][]byte{frames[0], frames[2]}, "chunk 2 of", ""},
		{"chunk without first", [][]byte{frames[1]}, "without its first chunk", ""},
		{"stale message", append(append(append([][]byte(nil), frames...), stop...), frames...), "", "replay"},
		{"reordered messages", append(append([][]byte(nil), stop...), frames[0]), "", "replay"},
		{"altered", [][]byte{garbage}, "", "mac"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejects := natslink.NewRejects(nil)
			r, err := newReceiver("r1", 1, "x", testKey, unlimited, rejects)
			require.NoError(t, err)
			for _, fr := range tc.frames {
				if _, err = r.feed(fr); err != nil {
					break
				}
			}
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err, "a frame that is not genuine, or a repeat, is dropped, not an error")
			counts := rejects.Counts()
			require.NotEmpty(t, counts, "dropped and counted")
			require.Equal(t, tc.dropped, counts[0].Reason)
		})
	}
}

// FuzzClaimAndBeat: whatever arrives on a run's claim or heartbeat subjects is taken or
// dropped and counted, never a panic; a beat is taken only if signed with the key and
// newer than the last one taken.
func FuzzClaimAndBeat(f *testing.F) {
	f.Add([]byte(`{"ID":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"PID":7,"Host":"h","Claimed":true}`))
	f.Add(signBeat(testKey, "pcnet.fz.node.0.beat", 9))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rej := &rejections{}
		if p, ok := decodeClaim(b, rej); ok && p.ID.isZero() {
			t.Fatal("a claim without an ID taken")
		}
		c := &beatChecker{key: testKey, subject: "pcnet.fz.node.0.beat", rej: rej}
		if c.check(b) {
			if !bytes.Equal(b, signBeat(testKey, c.subject, c.last)) {
				t.Fatalf("a beat taken that the key did not sign: %x", b)
			}
			if c.check(b) {
				t.Fatal("a replayed beat taken")
			}
		}
	})
}

// FuzzMessageBody: whatever body a message carries once authenticated (a run-key
// holder's, or a sender's bug) decodes to a message or an error, and a setup or a batch
// is accepted or refused by its checks, never a panic; an accepted setup's hosted layers
// carry exactly the bytes their widths make in its precision, and an accepted batch's
// inputs its rows. The seeds are setups and batches in both precisions, and a body
// that declares 4e9 optimiser buffers (TestDecodeMessageBounded). Run it with
// -fuzzminimizetime 100x: its seeds are kilobytes, which Go's minimiser would otherwise
// take 60 s over for each new input (docs/distributed.md, Fuzzing the decoders).
func FuzzMessageBody(f *testing.F) {
	fx := newFixture(2, 7)
	var id coordID
	id[0] = 1
	setup := setupOf(fx, Range{0, 1}, id, 4)
	gobOf := func(m *message) []byte {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(m); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	f.Add(gobOf(setup), gobOf(&message{Kind: kindBatch, Seq: 1, Rows: 2, X: floatBytes(make([]float64, 2*fx.layers[0].In()))}))
	f.Add(gobOf(setupOf(fixtureIn[float32](fx), Range{0, 1}, id, 4)), gobOf(&message{Kind: kindBatch, Seq: 1, Rows: 2, X: floatBytes(make([]float32, 2*fx.layers[0].In()))}))
	f.Add(gobOf(setupOf(fixtureIn[float32](fx), Range{0, 1}, id, 4)), gobOf(&message{Kind: kindBatch, Seq: 1, Rows: 2, X: floatBytes(make([]float64, 2*fx.layers[0].In()))}))
	f.Add(gobOf(&message{Kind: kindStop}), []byte{})
	f.Add([]byte{}, []byte{0xff})
	ranges := []Range{{0, 1}, {2, 3}, {1, 2}}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s, err := decodeMessage(a)
		if err != nil {
			return
		}
		batch, _ := decodeMessage(b)
		for _, r := range ranges {
			if checkSetup(s, r) != nil {
				continue
			}
			size := map[spec.Precision]int{spec.F32: 4, spec.F64: 8}[s.Net.Precision]
			if size == 0 {
				t.Fatalf("setup accepted in precision %v", s.Net.Precision)
			}
			for i, st := range s.Layers {
				in, out := s.Net.Sizes[r.Lo+i], s.Net.Sizes[r.Lo+i+1]
				if len(st.W) != size*in*out || len(st.B) != size*out {
					t.Fatalf("setup accepted with layer %d's %d+%d bytes for %dx%d", r.Lo+i, len(st.W), len(st.B), in, out)
				}
			}
			if batch == nil || checkBatch(batch, &s.Net, r) != nil {
				continue
			}
			if r.Lo == 0 {
				if len(batch.X) != size*batch.Rows*s.Net.Sizes[0] {
					t.Fatalf("batch accepted with %d bytes of inputs for %d rows of %d-byte values", len(batch.X), batch.Rows, size)
				}
			}
		}
	})
}
