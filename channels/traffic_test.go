package channels_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/stretchr/testify/require"
)

// TestLatencyBuckets: a latency exactly on a bucket's bound is counted in that bucket,
// as Prometheus's inclusive le counts it, one just above it in the next; a negative one
// (two machines' clocks apart) in the first, one above the last bound in the last.
func TestLatencyBuckets(t *testing.T) {
	bounds := channels.LatencyBuckets()
	require.Len(t, bounds, channels.NumLatencyBuckets-1)
	type tc struct {
		name   string
		d      time.Duration
		bucket int
	}
	cases := []tc{
		{"negative", -time.Millisecond, 0},
		{"zero", 0, 0},
		{"above the last bound", time.Second + time.Nanosecond, len(bounds)},
		{"an hour", time.Hour, len(bounds)},
	}
	for i, b := range bounds {
		d := time.Duration(math.Round(b * float64(time.Second)))
		cases = append(cases,
			tc{"on bound " + d.String(), d, i},
			tc{"just above " + d.String(), d + time.Nanosecond, i + 1},
			tc{"just below " + d.String(), d - time.Nanosecond, i})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var lc channels.LatencyCounter
			lc.Observe(c.d)
			var want channels.Latency
			want.Counts[c.bucket] = 1
			want.Sum = max(c.d, 0)
			require.Equal(t, want, lc.Load())
		})
	}
}

// TestTrafficSub: the traffic between two readings of the same counters is their
// difference, counter by counter.
func TestTrafficSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 3))
	var lc channels.LatencyCounter
	read := func(messages uint64) channels.Traffic {
		return channels.Traffic{Lower: 2, Dir: channels.Down, Messages: messages, Bytes: 8 * messages, WireBytes: 80 * messages, Latency: lc.Load()}
	}
	for range 20 {
		lc.Observe(time.Duration(rng.Int64N(int64(2 * time.Second))))
	}
	before := read(20)
	var want channels.LatencyCounter
	for range 30 {
		d := time.Duration(rng.Int64N(int64(2 * time.Second)))
		lc.Observe(d)
		want.Observe(d)
	}
	got := read(50).Sub(before)
	require.Equal(t, channels.Traffic{Lower: 2, Dir: channels.Down, Messages: 30, Bytes: 240, WireBytes: 2400, Latency: want.Load()}, got)
}
