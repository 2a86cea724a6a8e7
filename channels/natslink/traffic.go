package natslink

import (
	"sync/atomic"
	"time"

	"github.com/pcnet/pcnet/channels"
)

// latencyBounds are the upper bounds of the latency histogram's buckets: 1,
// 2.5 and 5 per decade from 10 µs (a hop on loopback) to 1 s (a hop that has
// gone wrong).
var latencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second,
}

// NumLatencyBuckets is the number of buckets of [Latency]: one per bound of
// [LatencyBuckets] and one above the last.
const NumLatencyBuckets = len(latencyBounds) + 1

// LatencyBuckets returns the upper bounds of [Latency]'s buckets in seconds,
// as Prometheus histograms take them (the +Inf bucket is implicit).
func LatencyBuckets() []float64 {
	out := make([]float64, len(latencyBounds))
	for i, b := range latencyBounds {
		out[i] = b.Seconds()
	}
	return out
}

// Latency is a histogram of messages' latencies, from the sender's Send to
// the receiver's Recv completing the message (see the package docs for what
// that means across machines).
type Latency struct {
	// Counts[i] counts the latencies in (LatencyBuckets()[i-1],
	// LatencyBuckets()[i]]; the last, those above the last bound. Not
	// cumulative.
	Counts [NumLatencyBuckets]uint64
	// Sum is the latencies' sum.
	Sum time.Duration
}

// Traffic is what one direction of a link carried into this process, as its
// receiving end counted it.
type Traffic struct {
	Lower int                // the link is Lower-(Lower+1)
	Dir   channels.Direction // up: predictions; down: errors
	// Messages, payload Bytes and WireBytes as in channels.Stats.
	Messages, Bytes, WireBytes uint64
	Latency                    Latency
}

// sub returns t less u, counter by counter.
func (t Traffic) sub(u Traffic) Traffic {
	t.Messages -= u.Messages
	t.Bytes -= u.Bytes
	t.WireBytes -= u.WireBytes
	for i := range t.Latency.Counts {
		t.Latency.Counts[i] -= u.Latency.Counts[i]
	}
	t.Latency.Sum -= u.Latency.Sum
	return t
}

// latencyCounter is a Latency that the receiving end adds to and another
// goroutine reads, without locks or allocation.
type latencyCounter struct {
	counts [NumLatencyBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// observe counts one latency; a negative one (the clocks of two machines
// apart) counts as zero.
func (c *latencyCounter) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	c.counts[i].Add(1)
	c.sum.Add(int64(d))
}

func (c *latencyCounter) load() Latency {
	var l Latency
	for i := range c.counts {
		l.Counts[i] = c.counts[i].Load()
	}
	l.Sum = time.Duration(c.sum.Load())
	return l
}

// TakeTraffic returns the traffic of every direction this process receives
// over NATS, in link order, up before down, counted since the last call (all
// of it at the first). Links of two local nodes, in-process, have none. It is
// meant for one reader (a worker sending its figures with each batch's
// report). Each counter is read once, so a message whose Recv races the
// call may be in this call's count and in the next's latencies; every count
// lands in exactly one call's figures.
func (t *Transport) TakeTraffic() []Traffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Traffic, len(t.recvs))
	for i, r := range t.recvs {
		now := r.traffic()
		out[i] = now.sub(r.taken)
		r.taken = now
	}
	return out
}
