package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/cluster/natsconn"
)

// delivery is one assembled message (or why it could not be) from the worker at index
// from (always 0 on a worker's side).
type delivery struct {
	from int
	m    *message
	err  error
}

// inbox says how a subscription of messages reads its subject.
type inbox struct {
	run     string
	lo      int // the node whose subject it is
	subject string
	from    int    // the index its deliveries carry (always 0 on a worker's side)
	key     []byte // the run key
	// limit bounds an assembled message (see limits.go); a larger one is an error.
	limit func() int64
	rej   *rejections
	// kind names the subject's messages among the rejected ones.
	kind string
	// bound, if set, returns the coordinator a worker took its setup from (zero before):
	// the subject is then demultiplexed by the sender's coordinator ID (the fromHeader
	// of each frame), so that a foreign coordinator's frames are dropped and counted
	// without breaking the stream of the worker's own.
	bound func() coordID
}

// maxSenders bounds the coordinators whose frames a worker not yet set up assembles.
const maxSenders = 4

// Pending limits (docs/design.md §9): nats.go queues a subscription's frames until its
// callback takes them. Each queue is bounded by what its subject can legitimately hold
// at once, so that a flood cannot grow a process's memory beyond what its run needs;
// what overflows is dropped by the client (a slow consumer), and package cluster makes
// that drop an error of the run (watchSlow), for a dropped message is a lost one.
const (
	// frameOverhead bounds a frame's bytes beyond its chunk: natslink's header and
	// trailer (112) and the NATS header that names the coordinator.
	frameOverhead = 512
	// smallPending is the queue of a subject of small messages (beats, claims) and
	// the slack of the others: far more than one sender's rate between two callbacks.
	smallPending = 64
)

// pendingOf sizes the queue of a message subject whose messages are at most limit
// bytes in frames of at most maxFrame: two whole messages (one waiting for its reader,
// the next arriving) and smallPending frames of any size, so that one frame larger than
// the subject carries (a stranger's, which fails its MAC) is dropped by its reader, not
// by the queue. A flood beyond that is a drop, an error of the run.
func pendingOf(limit, maxFrame int64) (msgs, bytes int) {
	chunk := max(maxFrame-frameOverhead, 1)
	frames := (limit + chunk - 1) / chunk
	return int(2*frames + smallPending), int(2*(limit+frames*frameOverhead) + smallPending*maxFrame)
}

// watchSlow hands out one error, on a slow-consumer drop of sub (subject's), until done
// is closed or sub ends; wg owns the goroutine.
func watchSlow(wg *sync.WaitGroup, sub *nats.Subscription, subject string, from int, out chan<- delivery, done <-chan struct{}) {
	slow := sub.StatusChanged(nats.SubscriptionSlowConsumer)
	wg.Go(func() {
		select {
		case _, ok := <-slow:
			if !ok {
				return // unsubscribed
			}
		case <-done:
			return
		}
		n, _ := sub.Dropped()
		msgs, bytes, _ := sub.PendingLimits()
		err := fmt.Errorf("%s: %d frame(s) dropped by the client (slow consumer: its queue of %d frames, %d bytes, was full); a message of the run is lost", subject, n, msgs, bytes)
		select {
		case out <- delivery{from: from, err: err}:
		case <-done:
		}
	})
}

// subscribeMessages assembles the messages of in's subject and hands them to out until
// done is closed. Its queue is bounded by pendingOf(in.limit()), which follows the limit
// (a worker's grows with its setup); a slow-consumer drop is handed to out as an error
// (watchSlow, whose goroutine wg owns).
func subscribeMessages(nc *nats.Conn, in inbox, out chan<- delivery, done <-chan struct{}, wg *sync.WaitGroup) (*nats.Subscription, error) {
	// One count of dropped frames for every reader of the subject: readers come and go
	// with the coordinators a stranger names, the count stays one.
	frames := in.rej.counter(in.kind)
	newReader := func() *receiver {
		r, err := newReceiver(in.run, in.lo, in.subject, in.key, in.limit, frames)
		if err != nil {
			// Only the options can be wrong, and they were checked below: never.
			return nil
		}
		return r
	}
	if _, err := newReceiver(in.run, in.lo, in.subject, in.key, in.limit, frames); err != nil {
		return nil, err
	}
	readers := map[string]*receiver{}
	reader := func(msg *nats.Msg) *receiver {
		if in.bound == nil {
			if r := readers[""]; r != nil {
				return r
			}
			r := newReader()
			if r != nil {
				readers[""] = r
			}
			return r
		}
		id := msg.Header.Get(fromHeader)
		if b := in.bound(); !b.isZero() {
			if id != b.String() {
				in.rej.add(in.kind, reasonForeign)
				return nil
			}
			// What other coordinators sent before this one set the worker up goes.
			for other := range readers {
				if other != id {
					delete(readers, other)
				}
			}
		}
		if r := readers[id]; r != nil {
			return r
		}
		if len(readers) >= maxSenders {
			in.rej.add(in.kind, reasonForeign)
			return nil
		}
		r := newReader()
		if r != nil {
			readers[id] = r
		}
		return r
	}
	maxFrame := nc.MaxPayload()
	applied := in.limit() // read by the callback only, which runs one message at a time
	sub, err := nc.Subscribe(in.subject, func(msg *nats.Msg) {
		if l := in.limit(); l != applied {
			applied = l
			_ = msg.Sub.SetPendingLimits(pendingOf(l, maxFrame))
		}
		r := reader(msg)
		if r == nil {
			return
		}
		m, err := r.feed(msg.Data)
		if m == nil && err == nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("bad message on %s: %w", in.subject, err)
		}
		select {
		case out <- delivery{from: in.from, m: m, err: err}:
		case <-done:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", in.subject, err)
	}
	if err := sub.SetPendingLimits(pendingOf(applied, maxFrame)); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	watchSlow(wg, sub, in.subject, in.from, out, done)
	return sub, nil
}

// clock is the time that heartbeat deadlines are measured by: the wall clock, or a
// test's, which says exactly when a deadline passes.
type clock interface {
	Now() time.Time
	// NewTicker ticks every d; stop ends it.
	NewTicker(d time.Duration) (ticks <-chan time.Time, stop func())
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// lastWord is when a peer was last heard from, in Unix nanoseconds of its clock.
type lastWord struct {
	at    atomic.Int64
	clock clock
}

func newLastWord(c clock) *lastWord { return &lastWord{clock: c} }

func (l *lastWord) touch()                            { l.at.Store(l.clock.Now().UnixNano()) }
func (l *lastWord) since(now time.Time) time.Duration { return now.Sub(time.Unix(0, l.at.Load())) }

// silent reports how long a peer last heard from at l has been silent at now, and
// whether that is beyond timeout: the deadline is exactly timeout after its last word.
func (l *lastWord) silent(now time.Time, timeout time.Duration) (time.Duration, bool) {
	d := l.since(now)
	return d, d > timeout
}

// subscribeBeats touches w on every authentic new heartbeat on subject (beatChecker);
// the others are dropped and counted in rej.
func subscribeBeats(nc *nats.Conn, key []byte, subject string, w *lastWord, rej *rejections) (*nats.Subscription, error) {
	c := &beatChecker{key: key, subject: subject, rej: rej}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if c.check(m.Data) {
			w.touch()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	// A beat says only "alive" and the next one says it again: a dropped one is not an
	// error, the queue is bounded so that a flood of them costs no memory.
	if err := sub.SetPendingLimits(smallPending, smallPending*beatSize); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}

// beat publishes a signed heartbeat on subject every interval until done is closed. Its
// counter starts at the wall clock's Unix nanoseconds, so that a process that restarts
// with the same key still counts above the beats it sent before.
func beat(nc *nats.Conn, key []byte, subject string, interval time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	n := uint64(time.Now().UnixNano())
	for {
		// A failed publish means a lost connection, which the owner's status watch reports.
		_ = nc.Publish(subject, signBeat(key, subject, n))
		n++
		select {
		case <-tick.C:
		case <-done:
			return
		}
	}
}

// connLost returns a channel that receives a line when nc is disconnected or closed
// (natslink.WatchConn), and a function that stops watching.
func connLost(nc *nats.Conn) (<-chan string, func()) {
	out := make(chan string, 1) // WatchConn reports once
	stop := natslink.WatchConn(nc, func(url string, s nats.Status) {
		// A hung server is named as the server, not blamed on a silent peer.
		out <- natsconn.Lost(nc, url, s).Error()
	})
	return out, stop
}
