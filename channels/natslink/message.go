package natslink

import "fmt"

// Message frames carry byte messages of any content (package cluster's
// gob-encoded commands and reports) in the links' wire format: a message
// larger than a frame is chunked as a link's values are, and its receiver
// checks the chunks and the messages' order with the same code.

const (
	// MaxMessage bounds a message of a [MessageWriter], and the bound a
	// [MessageReader] is given: 4 GiB, for a wide network's theta and
	// optimiser states.
	MaxMessage = 1 << 32
	// minMessageChunk is the least a message's chunk other than its last
	// carries: a message takes at most MaxMessage/minMessageChunk chunks, so a
	// frame that claims more is refused before anything is received.
	minMessageChunk = 1 << 10
)

// MessageOptions are what a [MessageWriter] and a [MessageReader] need
// besides the run and the node.
type MessageOptions struct {
	// Subject is the subject the messages travel on. The authentication
	// covers it, so a frame moved to another subject is refused.
	Subject string
	// Key is the run's secret (Options.Key); nil: no authentication, for
	// tests and benchmarks that say so.
	Key []byte
	// MaxMessage (reader) bounds a message in bytes, 1 to the package's
	// MaxMessage: the most its writer can legitimately send. A frame of a
	// longer message is refused before anything is allocated for it.
	MaxMessage uint64
	// Rejects (reader) counts the frames it drops (nil: a count of its own,
	// which logs nothing).
	Rejects *Rejects
}

// MessageWriter chunks the messages published on one subject into message
// frames. It numbers them in order from 0, so use one writer per subject.
// Heartbeats are messages too: an empty one is a frame of 72 bytes (112
// with a key). It is not safe for concurrent use.
type MessageWriter struct {
	e       endpoint
	subject string
	limit   int    // body bytes per frame
	next    uint64 // sequence number of the next message
	frame   []byte
	seal    *sealer // nil without a key
}

// NewMessageWriter makes a writer of run's messages for o.Subject, the
// subject of node (the header names the run and node again, so that a frame
// on another's subject is caught), in frames of at most maxFrame bytes (the
// server's max payload).
func NewMessageWriter(run string, node int, maxFrame int, o MessageOptions) (*MessageWriter, error) {
	if err := CheckRun(run, maxRunID); err != nil {
		return nil, fmt.Errorf("natslink: %w", err)
	}
	trailer := trailerOf(o.Key)
	switch {
	case node < 0:
		return nil, fmt.Errorf("natslink: run %s: messages of node %d: node is negative", run, node)
	case o.Subject == "":
		return nil, fmt.Errorf("natslink: run %s: messages of node %d: no subject", run, node)
	case maxFrame < headerSize+minMessageChunk+trailer:
		return nil, fmt.Errorf("natslink: run %s: frames of %d bytes cannot hold the %d-byte header, a chunk of %d bytes and a %d-byte trailer", run, maxFrame, headerSize, minMessageChunk, trailer)
	}
	if err := checkKey(o.Key); err != nil {
		return nil, fmt.Errorf("natslink: run %s: %w", run, err)
	}
	return &MessageWriter{e: newMessageEndpoint(run, node), subject: o.Subject, limit: maxFrame - headerSize - trailer, seal: newSealer(o.Key, o.Subject)}, nil
}

// Subject is the subject the writer's frames are authenticated for.
func (w *MessageWriter) Subject() string { return w.subject }

// Write publishes body as the next message, one frame per chunk. publish
// must not keep the frame (nats.Conn.Publish copies it).
func (w *MessageWriter) Write(body []byte, publish func(frame []byte) error) error {
	if uint64(len(body)) > MaxMessage {
		return fmt.Errorf("%s: a message of %d bytes exceeds %d", w.e.name, len(body), uint64(MaxMessage))
	}
	n := max(1, (len(body)+w.limit-1)/w.limit)
	h := header{typ: frameMessage, lower: w.e.lower, run: w.e.run, seq: w.next, step: int64(len(body)), chunks: uint32(n)}
	w.next++
	if need := headerSize + min(len(body), w.limit) + trailerSize; cap(w.frame) < need {
		w.frame = make([]byte, need)
	}
	for i := range n {
		piece := body[i*w.limit : min(len(body), (i+1)*w.limit)]
		h.chunk, h.offset, h.body = uint32(i), uint32(i*w.limit), uint32(len(piece))
		frame := w.frame[:headerSize+len(piece)]
		putHeader(frame, &h)
		copy(frame[headerSize:], piece)
		if w.seal != nil {
			frame = w.seal.seal(frame)
		}
		if err := publish(frame); err != nil {
			return err
		}
	}
	return nil
}

// MessageReader assembles the messages of one subject from their frames. The
// first message it sees may have any number (a subscriber may have joined
// after its publisher started); from then on every message must be the next,
// every chunk the next of its message. It is not safe for concurrent use.
type MessageReader struct {
	e       endpoint
	max     uint64
	open    *opener // nil without a key
	rejects *Rejects
	asm     chunks
	buf     []byte
	err     error // sticky: the subject's stream is broken
}

// NewMessageReader makes a reader of run's messages on o.Subject, the
// subject of node.
func NewMessageReader(run string, node int, o MessageOptions) (*MessageReader, error) {
	if err := CheckRun(run, maxRunID); err != nil {
		return nil, fmt.Errorf("natslink: %w", err)
	}
	switch {
	case node < 0:
		return nil, fmt.Errorf("natslink: run %s: messages of node %d: node is negative", run, node)
	case o.Subject == "":
		return nil, fmt.Errorf("natslink: run %s: messages of node %d: no subject", run, node)
	case o.MaxMessage < 1 || o.MaxMessage > MaxMessage:
		return nil, fmt.Errorf("natslink: run %s: messages of node %d: a bound of %d bytes; it must be 1 to %d", run, node, o.MaxMessage, uint64(MaxMessage))
	}
	if err := checkKey(o.Key); err != nil {
		return nil, fmt.Errorf("natslink: run %s: %w", run, err)
	}
	if o.Rejects == nil {
		o.Rejects = NewRejects(nil)
	}
	e := newMessageEndpoint(run, node)
	// A frame is at most a header, the whole message and a trailer.
	maxLen := headerSize + int(min(o.MaxMessage, 1<<31)) + trailerSize
	return &MessageReader{e: e, max: o.MaxMessage, open: newOpener(o.Key, o.Subject, maxLen), rejects: o.Rejects,
		asm: chunks{name: e.name, unit: "byte", describe: describeMessage}}, nil
}

func newMessageEndpoint(run string, node int) endpoint {
	e := newEndpoint(run, node, 0)
	e.name = fmt.Sprintf("natslink: run %s messages of node %d", run, node)
	return e
}

// describeMessage names a message frame's message in errors.
func describeMessage(h header) string {
	if h.step == 0 {
		return "an empty message"
	}
	return fmt.Sprintf("a %d-byte message", h.step)
}

// Feed takes one frame. done says that the frame completed its message,
// which is then msg, valid until the next call. With a key, a frame that
// fails authentication or repeats an earlier one is dropped and counted in
// MessageOptions.Rejects: Feed returns nothing for it, and the reader is as
// it was. Otherwise the first bad frame is an error naming what is wrong,
// and so is every frame after it.
func (r *MessageReader) Feed(frame []byte) (msg []byte, done bool, err error) {
	if r.err != nil {
		return nil, false, r.err
	}
	if r.open != nil {
		if why := r.open.open(frame); why != accepted {
			r.rejects.add(kindMessage, why, r.e.name)
			return nil, false, nil
		}
	}
	msg, done, r.err = r.feed(frame)
	return msg, done, r.err
}

func (r *MessageReader) feed(frame []byte) ([]byte, bool, error) {
	var h header
	if err := parseHeader(frame, &h, r.open != nil); err != nil {
		return nil, false, fmt.Errorf("%s: %w", r.e.name, err)
	}
	if err := r.e.check(&h, frameMessage); err != nil {
		return nil, false, err
	}
	switch {
	case h.kind != 0 || h.payload != 0 || h.rows != 0 || h.cols != 0 || h.sent != 0:
		return nil, false, fmt.Errorf("%s: message %d: a message frame's kind, payload, rows, cols and time must be 0", r.e.name, h.seq)
	case h.step < 0 || uint64(h.step) > r.max:
		return nil, false, fmt.Errorf("%s: message %d of %d bytes; the most it can get is %d", r.e.name, h.seq, h.step, r.max)
	}
	total, n := uint64(h.step), uint64(h.body)
	begins, err := r.asm.admit(&h, n, total)
	if err != nil {
		return nil, false, err
	}
	if begins {
		// Every chunk but the last is as long as the first: the count follows.
		if h.chunks > 1 && (n < minMessageChunk || uint64(h.chunks) != (total+n-1)/n) {
			return nil, false, fmt.Errorf("%s: message %d: %d chunks of %d bytes cannot make %s (a chunk but the last holds at least %d bytes, all of them alike)", r.e.name, h.seq, h.chunks, n, describeMessage(h), minMessageChunk)
		}
		r.buf = r.buf[:0]
	} else if f := &r.asm.first; h.step != f.step || uint64(h.body) != uint64(f.body) && h.chunk < h.chunks-1 {
		return nil, false, fmt.Errorf("%s: message %d: chunk %d (%d bytes of %d) disagrees with its first chunk (%d bytes of %d)", r.e.name, h.seq, h.chunk, h.body, h.step, f.body, f.step)
	}
	// Grown as the chunks come, not by the size claimed: a frame that claims
	// a large message allocates nothing before its bytes arrive.
	r.buf = append(r.buf, frame[headerSize:headerSize+n]...)
	if !r.asm.take(&h, n) {
		return nil, false, nil
	}
	return r.buf, true, nil
}
