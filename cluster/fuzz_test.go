package cluster

import (
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzAssemble: whatever arrives on a run's command or report subject (foreign,
// truncated, reordered or malformed chunks, bad gob) is an error or a message, never a
// panic.
func FuzzAssemble(f *testing.F) {
	s := &sender{limit: 40}
	var frames [][]byte
	s.publish = func(_ string, frame []byte) error {
		frames = append(frames, append([]byte(nil), frame...))
		return nil
	}
	if err := s.send("x", &message{Kind: kindBatch, Seq: 3, Rows: 2, X: floatBytes([]float64{1, 2, 3, 4}), Labels: []int{1, 0}}); err != nil {
		f.Fatal(err)
	}
	for _, fr := range frames {
		f.Add(fr, fr)
	}
	f.Add(frames[0], frames[len(frames)-1])
	f.Add([]byte("PNCL"), []byte{})
	hdr := make([]byte, chunkHeader)
	binary.LittleEndian.PutUint32(hdr, chunkMagic)
	binary.LittleEndian.PutUint32(hdr[12:], 1)
	f.Add(append(hdr, 0xff, 0x01), []byte(nil))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var asm assembler
		for _, fr := range [][]byte{a, b} {
			m, err := asm.feed(fr)
			if err != nil && m != nil {
				t.Fatalf("both a message and an error: %v", err)
			}
		}
	})
}

// TestAssemblerRejectsBadChunks names what is wrong with chunks out of order, foreign
// frames and undecodable messages.
func TestAssemblerRejectsBadChunks(t *testing.T) {
	s := &sender{limit: 30}
	var frames [][]byte
	s.publish = func(_ string, frame []byte) error {
		frames = append(frames, append([]byte(nil), frame...))
		return nil
	}
	m := &message{Kind: kindReport, Seq: 9, Fault: "a fault"}
	if err := s.send("x", m); err != nil {
		t.Fatal(err)
	}
	if len(frames) < 3 {
		t.Fatalf("%d frames; the test needs a chunked message", len(frames))
	}
	var asm assembler
	for i, fr := range frames {
		got, err := asm.feed(fr)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != (i == len(frames)-1) {
			t.Fatalf("chunk %d of %d: message %v", i, len(frames), got)
		}
		if got != nil && (got.Kind != kindReport || got.Seq != 9 || got.Fault != "a fault") {
			t.Fatalf("assembled %+v", got)
		}
	}
	for _, tc := range []struct {
		frames [][]byte
		want   string
	}{
		{[][]byte{[]byte("hello")}, "not a pcnet cluster message"},
		{[][]byte{frames[0], frames[2]}, "arrived while expecting chunk 1"},
		{[][]byte{frames[1]}, "arrived while expecting"},
		{[][]byte{append(append([]byte(nil), frames[0][:12]...), 1, 0, 0, 0, 0xde, 0xad)}, "message 1"},
	} {
		var asm assembler
		var err error
		for _, fr := range tc.frames {
			if _, err = asm.feed(fr); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("frames %q: error %v, want %q", tc.frames, err, tc.want)
		}
	}
}
