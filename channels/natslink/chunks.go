package natslink

import "fmt"

// A message larger than a frame travels as consecutive frames of one
// publisher on one subject, which NATS delivers in order: its chunks, each
// naming the message's sequence number, its index and the count, and its
// offset in the message. A link's values (data frames, counted in float32s or float64s)
// and package cluster's commands and reports (message frames, counted in
// bytes) are chunked alike, and one receiving state checks them both.

// chunks is a receiver's state across the chunks of one subject's
// messages: the sequence number of the next message and the message in
// progress. admit checks a frame against it; take then moves it on, so that
// a frame the caller refuses after admit leaves it as it was.
type chunks struct {
	name     string                // "natslink: run r1 link 2-3 up", the prefix of its errors
	unit     string                // what offsets count: "float64", "float32" or "byte"
	describe func(h header) string // "a 3x2 value", in errors only (no allocation per frame)

	next   uint64 // sequence number of the next message
	synced bool   // false until the first message when any number may start
	open   bool   // a message is in progress
	first  header // the header of its first chunk, chunk moved on to the last taken
	got    uint64 // units of it received so far
}

// admit checks a frame of n units at h.offset of a message of total units:
// the chunk's index, count, offset and size against the message's, and its
// sequence number against the next expected (a message lost, duplicated,
// stale or reordered). begins says that it is a message's first chunk.
func (c *chunks) admit(h *header, n, total uint64) (begins bool, err error) {
	switch {
	case h.chunks == 0 || h.chunk >= h.chunks:
		return false, fmt.Errorf("%s: message %d: chunk %d of %d", c.name, h.seq, h.chunk, h.chunks)
	case total == 0 && (h.chunks != 1 || n != 0):
		return false, fmt.Errorf("%s: message %d: %s is one frame without a body, not chunk %d of %d with %d bytes", c.name, h.seq, c.describe(*h), h.chunk, h.chunks, h.body)
	case total > 0 && (n == 0 || uint64(h.chunks) > total):
		return false, fmt.Errorf("%s: message %d: chunk %d of %d has %d %ss of %s", c.name, h.seq, h.chunk, h.chunks, n, c.unit, c.describe(*h))
	case uint64(h.offset)+n > total:
		return false, fmt.Errorf("%s: message %d: chunk %d of %d covers %ss %d to %d of %s", c.name, h.seq, h.chunk, h.chunks, c.unit, h.offset, uint64(h.offset)+n, c.describe(*h))
	case h.chunk == h.chunks-1 && uint64(h.offset)+n != total:
		return false, fmt.Errorf("%s: message %d: the last chunk ends at %s %d of %d", c.name, h.seq, c.unit, uint64(h.offset)+n, total)
	case h.chunk < h.chunks-1 && uint64(h.offset)+n == total:
		return false, fmt.Errorf("%s: message %d: chunk %d of %d already ends the value", c.name, h.seq, h.chunk, h.chunks)
	}
	if h.chunk == 0 {
		switch {
		case c.open:
			return false, fmt.Errorf("%s: message %d begins while chunk %d of %d of message %d is missing", c.name, h.seq, c.first.chunk+1, c.first.chunks, c.first.seq)
		case c.synced && h.seq != c.next:
			return false, fmt.Errorf("%s: message %d out of order: expected message %d (lost, duplicated or reordered)", c.name, h.seq, c.next)
		case h.offset != 0:
			return false, fmt.Errorf("%s: message %d: its first chunk starts at %s %d", c.name, h.seq, c.unit, h.offset)
		}
		return true, nil
	}
	f := &c.first
	switch {
	case !c.open:
		return false, fmt.Errorf("%s: chunk %d of %d of message %d without its first chunk", c.name, h.chunk, h.chunks, h.seq)
	case h.seq != f.seq || h.chunk != f.chunk+1 || h.chunks != f.chunks:
		return false, fmt.Errorf("%s: chunk %d of %d of message %d where chunk %d of %d of message %d belongs", c.name, h.chunk, h.chunks, h.seq, f.chunk+1, f.chunks, f.seq)
	case uint64(h.offset) != c.got:
		return false, fmt.Errorf("%s: message %d: chunk %d starts at %s %d, after %d received", c.name, h.seq, h.chunk, c.unit, h.offset, c.got)
	}
	return false, nil
}

// take moves the state past an admitted frame of n units; done says that it
// completed its message.
func (c *chunks) take(h *header, n uint64) (done bool) {
	if h.chunk == 0 {
		c.open, c.first, c.got = true, *h, 0
	}
	c.first.chunk = h.chunk
	c.got += n
	if h.chunk < h.chunks-1 {
		return false
	}
	c.open, c.synced = false, true
	c.next = h.seq + 1
	return true
}
