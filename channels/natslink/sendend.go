package natslink

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// sendEnd is a direction's sending end in this process. Its pool is local:
// Send encodes the value into frames at once, so the credit, not the buffer,
// is what waits for the receiver.
type sendEnd[T tensor.Float] struct {
	t *Transport[T]
	endpoint
	kind             channels.Kind
	maxRows, maxCols int
	slots            []slot[T]
	acquired         int

	subject, helloSubject string
	frame, hello          []byte
	chunkFloats           int
	seal, helloSeal       *sealer // nil without a key
	creditOpen            *opener // nil without a key
	helloSent             bool    // the first hello has gone

	credits   chan *nats.Msg
	creditSub *nats.Subscription
	slow      <-chan nats.SubStatus // the credit subscription's slow-consumer state
	seq       uint64                // messages sent
	limit     uint64                // the receiver's credit limit: messages < limit may be sent
	err       error                 // sticky: the link is broken

	messages, bytes, wire atomic.Uint64
}

func (s *sendEnd[T]) stats() channels.Stats {
	return channels.Stats{Messages: s.messages.Load(), Bytes: s.bytes.Load(), WireBytes: s.wire.Load()}
}

// Acquire takes a credit and a buffer of the local pool shaped rows x cols,
// blocking until the receiver has released enough messages or ctx is done.
func (s *sendEnd[T]) Acquire(ctx context.Context, rows, cols int) (*channels.Buffer[T], error) {
	if rows < 1 || cols < 1 || rows > s.maxRows || cols > s.maxCols {
		return nil, fmt.Errorf("%s: cannot acquire a %dx%d buffer: the pool's buffers are %dx%d", s.name, rows, cols, s.maxRows, s.maxCols)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.broken(); err != nil {
		return nil, err
	}
	for s.seq+uint64(s.acquired) >= s.limit {
		if err := s.waitCredit(ctx); err != nil {
			return nil, err
		}
	}
	i := 0
	for s.slots[i].busy {
		i++ // a free slot exists: acquired < Buffers, since limit <= seq + Buffers
	}
	sl := &s.slots[i]
	sl.busy = true
	s.acquired++
	sl.buf.Rows, sl.buf.Cols, sl.buf.Data = rows, cols, sl.full
	return sl.buf, nil
}

// broken is the error that broke this end or its transport, if any.
func (s *sendEnd[T]) broken() error {
	if s.err != nil {
		return s.err
	}
	return s.t.err()
}

// waitCredit waits for one credit frame and applies it. Until the receiver's
// first grant arrives it asks for it (hello) with a growing interval: the
// grant it sent when it subscribed is lost if this end subscribed later.
func (s *sendEnd[T]) waitCredit(ctx context.Context) error {
	var m *nats.Msg
	select {
	case m = <-s.credits:
	default:
		if n, _ := s.creditSub.Dropped(); n > 0 {
			return s.breakWith(slowConsumer(s.name, "credit", n))
		}
		var retry <-chan time.Time
		var timer *time.Timer
		wait := 5 * time.Millisecond
		if s.limit == 0 {
			// The first wait asks at once; a later one (after a dropped
			// credit) only when the timer says so, so that forged credits
			// do not draw a hello each.
			if !s.helloSent {
				s.helloSent = true
				if err := s.t.publish(s.helloSubject, s.helloFrame()); err != nil {
					return s.breakWith(s.t.publishFailed(s.name, "hello", err))
				}
			}
			timer = time.NewTimer(wait)
			defer timer.Stop()
			retry = timer.C
		}
		for m == nil {
			select {
			case m = <-s.credits:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.t.broken:
				return s.t.err()
			case _, ok := <-s.slow:
				if !ok { // unsubscribed: the transport is closing
					<-s.t.broken
					return s.t.err()
				}
				n, _ := s.creditSub.Dropped()
				return s.breakWith(slowConsumer(s.name, "credit", n))
			case <-retry:
				if err := s.t.publish(s.helloSubject, s.helloFrame()); err != nil {
					return s.breakWith(s.t.publishFailed(s.name, "hello", err))
				}
				wait = min(2*wait, time.Second)
				timer.Reset(wait)
			}
		}
	}
	if s.creditOpen != nil {
		if why := s.creditOpen.open(m.Data); why != accepted {
			// Dropped: the caller waits for the next credit.
			s.t.o.Rejects.add(kindCredit, why, s.name)
			return nil
		}
	}
	limit, err := s.checkCredit(m.Data, s.seq, len(s.slots), s.creditOpen != nil)
	if err != nil {
		return s.breakWith(err)
	}
	// Grants may cross (a re-grant answering a hello, a release): the
	// limit only grows.
	s.limit = max(s.limit, limit)
	return nil
}

// helloFrame is the hello to publish now: sealed anew each time, since
// every frame of a publisher has a counter of its own.
func (s *sendEnd[T]) helloFrame() []byte {
	f := s.controlFrame(s.hello, frameHello, 0)
	if s.helloSeal != nil {
		f = s.helloSeal.seal(f)
	}
	return f
}

func (s *sendEnd[T]) breakWith(err error) error {
	s.err = err
	return err
}

// Send encodes m into one frame per chunk and publishes them; the buffer is
// back in the local pool when Send returns. If ctx is done, Send fails and
// the sender keeps m.Buf.
func (s *sendEnd[T]) Send(ctx context.Context, m channels.Message[T]) error {
	b := m.Buf
	if m.Kind != s.kind {
		return fmt.Errorf("%s carries %v messages, not %v (step %d)", s.name, s.kind, m.Kind, m.Step)
	}
	if b == nil {
		return fmt.Errorf("%s: %v message of step %d has no buffer", s.name, m.Kind, m.Step)
	}
	i := find(s.slots, b)
	switch {
	case i < 0:
		return fmt.Errorf("%s: %v message of step %d has a buffer of another pool; acquire it from this sender", s.name, m.Kind, m.Step)
	case b.Rows < 1 || b.Cols < 1 || b.Rows > s.maxRows || b.Cols > s.maxCols:
		return fmt.Errorf("%s: %v message of step %d is %dx%d; the pool's buffers are %dx%d", s.name, m.Kind, m.Step, b.Rows, b.Cols, s.maxRows, s.maxCols)
	case m.Payload > channels.Unchanged:
		return fmt.Errorf("%s: %v message of step %d has an unknown payload %v", s.name, m.Kind, m.Step, m.Payload)
	case !s.slots[i].busy:
		return fmt.Errorf("%s: %v message of step %d: its buffer is not acquired (sent twice, or sent after Release)", s.name, m.Kind, m.Step)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.broken(); err != nil {
		return err
	}
	total := 0
	if m.Payload == channels.Full {
		total = b.Rows * b.Cols
	}
	chunks := max(1, (total+s.chunkFloats-1)/s.chunkFloats)
	h := header{
		typ: frameData, dir: s.dir, kind: m.Kind, payload: m.Payload, elem: s.t.elem,
		lower: s.lower, run: s.run, seq: s.seq, step: int64(m.Step),
		rows: uint32(b.Rows), cols: uint32(b.Cols), chunks: uint32(chunks),
		sent: time.Now().UnixNano(), // wall clock: the receiver may be another process
	}
	value := s.slots[i].full[:total]
	// Counted before the frames leave, so that a receiver in this process
	// reading Stats after Recv sees its message counted.
	s.messages.Add(1)
	size := int(s.t.elem)
	s.bytes.Add(uint64(size * total))
	s.wire.Add(uint64(chunks*(headerSize+s.t.trailer()) + size*total))
	for c := range chunks {
		off := c * s.chunkFloats
		n := min(s.chunkFloats, total-off)
		h.chunk, h.offset, h.body = uint32(c), uint32(off), uint32(size*n)
		frame := s.frame[:headerSize+size*n]
		putHeader(frame, &h)
		putFloats(frame[headerSize:], value[off:off+n])
		if s.seal != nil {
			frame = s.seal.seal(frame)
		}
		if err := s.t.publish(s.subject, frame); err != nil {
			return s.breakWith(s.t.publishFailed(s.name, fmt.Sprintf("publish message %d (step %d)", s.seq, m.Step), err))
		}
	}
	s.slots[i].busy = false
	s.acquired--
	s.seq++
	return nil
}
