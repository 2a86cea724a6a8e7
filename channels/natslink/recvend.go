package natslink

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// recvEnd is a direction's receiving end in this process: the frames arrive
// on a channel filled by the client's read loop, and are decoded by Recv into
// the local pool.
type recvEnd[T tensor.Float] struct {
	t   *Transport[T]
	dec *decoder[T]

	subject, creditSubject string
	frames                 chan *nats.Msg
	sub                    *nats.Subscription
	slow                   <-chan nats.SubStatus // sub's slow-consumer state
	limit                  atomic.Uint64         // Buffers + messages released
	err                    error

	// Credits go out from Recv's goroutine (Release) and the client's
	// (answerHello); the mutex keeps each sealed frame's counter in the
	// order the frames are published.
	creditMu    sync.Mutex
	creditFrame []byte
	creditSeal  *sealer // nil without a key
	helloOpen   *opener // nil without a key; used by answerHello only

	messages, bytes, wire atomic.Uint64
	latency               channels.LatencyCounter
	taken                 channels.Traffic // at the last TakeTraffic; guarded by t.mu
}

func (r *recvEnd[T]) stats() channels.Stats {
	return channels.Stats{Messages: r.messages.Load(), Bytes: r.bytes.Load(), WireBytes: r.wire.Load()}
}

// traffic reads the counters.
func (r *recvEnd[T]) traffic() channels.Traffic {
	return channels.Traffic{
		Lower: r.dec.edge.Lower, Upper: int32(r.dec.edge.Upper), Dir: r.dec.dir,
		Messages: r.messages.Load(), Bytes: r.bytes.Load(), WireBytes: r.wire.Load(),
		Latency: r.latency.Load(),
	}
}

// grant publishes the credit limit.
func (r *recvEnd[T]) grant() error {
	r.creditMu.Lock()
	defer r.creditMu.Unlock()
	f := r.dec.controlFrame(r.creditFrame, frameCredit, r.limit.Load())
	if r.creditSeal != nil {
		f = r.creditSeal.seal(f)
	}
	return r.t.publish(r.creditSubject, f)
}

// answerHello re-grants the current limit to a sender that asks for it. It
// runs on the client's goroutine for the hello subscription. A frame that is
// not a hello of this direction is ignored: it carries nothing, and a grant
// only repeats the limit. With a key, one that fails authentication is
// counted too.
func (r *recvEnd[T]) answerHello(m *nats.Msg) {
	if r.helloOpen != nil {
		if why := r.helloOpen.open(m.Data); why != accepted {
			r.t.o.Rejects.add(kindCredit, why, r.dec.name)
			return
		}
	}
	var h header
	if parseHeader(m.Data, &h, r.helloOpen != nil) != nil || r.dec.check(&h, frameHello) != nil {
		return
	}
	if err := r.grant(); err != nil {
		r.t.fail(r.t.publishFailed(r.dec.name, "answer hello", err))
	}
}

// Recv returns the next message, blocking until its last frame has arrived
// or ctx is done. A malformed or foreign frame breaks the link: Recv returns
// an error naming what is wrong, now and on every later call.
func (r *recvEnd[T]) Recv(ctx context.Context) (channels.Message[T], error) {
	if err := ctx.Err(); err != nil {
		return channels.Message[T]{}, err
	}
	if r.err != nil {
		return channels.Message[T]{}, r.err
	}
	if err := r.t.err(); err != nil {
		return channels.Message[T]{}, err
	}
	for {
		var f *nats.Msg
		select {
		case f = <-r.frames:
		default:
			if n, _ := r.sub.Dropped(); n > 0 {
				r.err = slowConsumer(r.dec.name, "data", n)
				return channels.Message[T]{}, r.err
			}
			select {
			case f = <-r.frames:
			case <-ctx.Done():
				return channels.Message[T]{}, ctx.Err()
			case <-r.t.broken:
				return channels.Message[T]{}, r.t.err()
			case _, ok := <-r.slow:
				if !ok { // unsubscribed: the transport is closing
					<-r.t.broken
					return channels.Message[T]{}, r.t.err()
				}
				n, _ := r.sub.Dropped()
				r.err = slowConsumer(r.dec.name, "data", n)
				return channels.Message[T]{}, r.err
			}
		}
		if f.Subject != r.subject {
			r.err = fmt.Errorf("%s: frame on subject %s", r.dec.name, f.Subject)
			return channels.Message[T]{}, r.err
		}
		if why := r.dec.accept(f.Data); why != accepted {
			// Not from this link's sender: the run goes on without it.
			r.t.o.Rejects.add(kindData, why, r.dec.name)
			continue
		}
		m, done, err := r.dec.feed(f.Data)
		if err != nil {
			r.err = err
			return channels.Message[T]{}, err
		}
		r.wire.Add(uint64(len(f.Data)))
		if done {
			// Arrival is when the receiver has the whole message: a node busy
			// computing when it came adds its wait (see the package docs).
			r.latency.Observe(time.Duration(time.Now().UnixNano() - r.dec.sent))
			r.messages.Add(1)
			if m.Payload == channels.Full {
				r.bytes.Add(uint64(int(r.t.elem) * m.Buf.Rows * m.Buf.Cols))
			}
			return m, nil
		}
	}
}

// Release gives m.Buf back to the local pool and its credit back to the
// sender. Misuse panics as in-process; a failed publish breaks the link and
// surfaces from the next Recv.
func (r *recvEnd[T]) Release(m channels.Message[T]) {
	r.dec.release(m)
	r.limit.Add(1)
	if err := r.grant(); err != nil && r.err == nil {
		r.err = r.t.publishFailed(r.dec.name, "return credit", err)
	}
}
