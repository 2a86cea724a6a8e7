package cluster

import (
	"fmt"
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

// subscribeMessages assembles the messages of in's subject and hands them to out until
// done is closed. The subscription has no pending limit: a large setup arrives in many
// chunks while the receiver may be busy; in.limit bounds what it assembles.
func subscribeMessages(nc *nats.Conn, in inbox, out chan<- delivery, done <-chan struct{}) (*nats.Subscription, error) {
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
	sub, err := nc.Subscribe(in.subject, func(msg *nats.Msg) {
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
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
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
