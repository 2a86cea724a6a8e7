package channels

import (
	"sync/atomic"
	"time"
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
// the receiver's Recv completing the message (a transport with a wire says
// what that means across machines: channels/natslink's package docs).
type Latency struct {
	// Counts[i] counts the latencies in (LatencyBuckets()[i-1],
	// LatencyBuckets()[i]] (a bound belongs to its bucket, as Prometheus's
	// le does); the last, those above the last bound. Not cumulative.
	Counts [NumLatencyBuckets]uint64
	// Sum is the latencies' sum.
	Sum time.Duration
}

// Traffic is what one direction of a link carried into a process, as its
// receiving end counted it. The in-process transport keeps no traffic (its
// links have no wire); a transport between processes reports it (for one,
// channels/natslink's TakeTraffic), and package metrics exposes it.
type Traffic struct {
	Lower int // the link is Lower-Upper
	// Upper is the link's upper node: Lower+1 on a chain edge, further up on a long
	// skip (docs/design.md §11); zero means Lower+1. An int32 so that it fits in the
	// padding after Dir: Traffic stays 184 bytes, the largest slice element of a cluster
	// message, which bounds what decoding one may allocate a byte (docs/design.md §9).
	Upper int32
	Dir   Direction // up: predictions; down: errors
	// Messages, payload Bytes and WireBytes as in Stats.
	Messages, Bytes, WireBytes uint64
	Latency                    Latency
}

// Sub returns t less u, counter by counter: the traffic between two readings.
func (t Traffic) Sub(u Traffic) Traffic {
	t.Messages -= u.Messages
	t.Bytes -= u.Bytes
	t.WireBytes -= u.WireBytes
	for i := range t.Latency.Counts {
		t.Latency.Counts[i] -= u.Latency.Counts[i]
	}
	t.Latency.Sum -= u.Latency.Sum
	return t
}

// LatencyCounter is a [Latency] that a receiving end adds to and another
// goroutine reads, without locks or allocation. The zero value is empty.
type LatencyCounter struct {
	counts [NumLatencyBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe counts one latency; a negative one (the clocks of two machines
// apart) counts as zero. A latency equal to a bound is counted in that
// bound's bucket.
func (c *LatencyCounter) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	c.counts[i].Add(1)
	c.sum.Add(int64(d))
}

// Load reads the histogram. Each counter is read once: a latency observed
// during the call may be in the counts and not yet in the sum.
func (c *LatencyCounter) Load() Latency {
	var l Latency
	for i := range c.counts {
		l.Counts[i] = c.counts[i].Load()
	}
	l.Sum = time.Duration(c.sum.Load())
	return l
}
