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

// subscribeMessages assembles the messages of one subject, that of the worker of node lo
// in run, and hands them to out until done is closed. The subscription has no pending
// limit: a large setup arrives in many chunks while the receiver may be busy.
func subscribeMessages(nc *nats.Conn, run string, lo int, subject string, from int, out chan<- delivery, done <-chan struct{}) (*nats.Subscription, error) {
	r, err := newReceiver(run, lo, subject)
	if err != nil {
		return nil, err
	}
	sub, err := nc.Subscribe(subject, func(msg *nats.Msg) {
		m, err := r.feed(msg.Data)
		if m == nil && err == nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("bad message on %s: %w", subject, err)
		}
		select {
		case out <- delivery{from: from, m: m, err: err}:
		case <-done:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
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

// subscribeBeats touches w on every heartbeat on subject.
func subscribeBeats(nc *nats.Conn, subject string, w *lastWord) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, func(*nats.Msg) { w.touch() })
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	return sub, nil
}

// beat publishes an empty heartbeat on subject every interval until done is closed.
func beat(nc *nats.Conn, subject string, interval time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		// A failed publish means a lost connection, which the owner's status watch reports.
		_ = nc.Publish(subject, nil)
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
