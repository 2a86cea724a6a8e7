package cluster

import (
	"testing"

	"github.com/pcnet/pcnet/channels/natslink"

	"github.com/stretchr/testify/require"
)

// framesOf sends ms on one subject of run through a sender with frames of maxFrame
// bytes, and returns the frames of each.
func framesOf(t testing.TB, run string, maxFrame int, ms ...*message) [][][]byte {
	s := &sender{run: run, maxFrame: maxFrame, writers: map[string]*natslink.MessageWriter{}}
	var frames [][]byte
	s.publish = func(_ string, frame []byte) error {
		frames = append(frames, append([]byte(nil), frame...))
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
	r, err := newReceiver(run, lo, "x")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzAssemble: whatever arrives on a run's command or report subject (foreign,
// truncated, stale, reordered or malformed chunks, bad gob) is an error or a message,
// never a panic.
func FuzzAssemble(f *testing.F) {
	big := &message{Kind: kindBatch, Seq: 3, Rows: 2, X: floatBytes(make([]float64, 300)), Labels: []int{1, 0}}
	both := framesOf(f, "fz", 1100, big, &message{Kind: kindStop})
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

// TestReceiverRejects: a command or report that is chunked is assembled; one of another
// run, stale, reordered or undecodable is an error naming what is wrong. (Every bound
// of the framing is natslink's TestMessageReaderRejects.)
func TestReceiverRejects(t *testing.T) {
	m := &message{Kind: kindReport, Seq: 9, Fault: "a fault", X: floatBytes(make([]float64, 300))}
	both := framesOf(t, "r1", 1100, m, &message{Kind: kindStop})
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
	for _, tc := range []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"foreign", [][]byte{[]byte("hello")}, "truncated frame"},
		{"other run", [][]byte{framesOf(t, "r2", 1100, m)[0][0]}, "frame of another run"},
		{"reordered chunks", [][]byte{frames[0], frames[2]}, "chunk 2 of"},
		{"chunk without first", [][]byte{frames[1]}, "without its first chunk"},
		{"stale message", append(append(append([][]byte(nil), frames...), stop...), frames...), "message 0 out of order: expected message 2"},
		{"reordered messages", append(append([][]byte(nil), stop...), frames[0]), "message 0 out of order: expected message 2"},
		{"undecodable", [][]byte{garbage}, "undecodable message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testReceiver(t, "r1", 1)
			var err error
			for _, fr := range tc.frames {
				if _, err = r.feed(fr); err != nil {
					break
				}
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
