package natslink

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// delayLine publishes frames a fixed delay after they were handed to it, in
// the order they were handed over: a hop that takes longer, not a sender that
// waits. One goroutine, started by the transport and stopped by its Close.
type delayLine struct {
	nc    *nats.Conn
	delay time.Duration
	fail  func(error)

	queue chan delayed
	quit  chan struct{}
	done  chan struct{}
}

type delayed struct {
	due     time.Time
	subject string
	frame   []byte
}

// delayQueue bounds the frames waiting in the line; credits bound a run's
// frames far below it, so publish never waits in practice.
const delayQueue = 4096

func startDelayLine(nc *nats.Conn, delay time.Duration, fail func(error)) *delayLine {
	l := &delayLine{nc: nc, delay: delay, fail: fail, queue: make(chan delayed, delayQueue), quit: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// publish copies frame and queues it; it waits only while the queue is full,
// until the line stops or broken is closed.
func (l *delayLine) publish(subject string, frame []byte, broken <-chan struct{}) error {
	d := delayed{due: time.Now().Add(l.delay), subject: subject, frame: append([]byte(nil), frame...)}
	select {
	case l.queue <- d:
		return nil
	case <-l.quit:
		return ErrClosed
	case <-broken:
		return ErrClosed
	}
}

func (l *delayLine) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var d delayed
		select {
		case d = <-l.queue:
		case <-l.quit:
			return
		}
		if wait := time.Until(d.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.quit:
				return
			}
		}
		if err := l.nc.Publish(d.subject, d.frame); err != nil {
			l.fail(fmt.Errorf("natslink: delayed publish on %s: %w", d.subject, err))
		}
	}
}

// stop ends the line; frames still queued are dropped (the links are closed).
func (l *delayLine) stop() {
	close(l.quit)
	<-l.done
}
