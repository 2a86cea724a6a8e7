package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// startWorkers serves ranges by workers in goroutines of this process, each on a
// connection of its own to an embedded NATS server, and returns their coordinator of a
// network on layers, its link traffic going to m; stop ends them all (ctx bounds the
// start only: the workers end when stop stops their coordinator).
func startWorkers(ctx context.Context, m *Metrics, ranges []cluster.Range, delay time.Duration, layers []*layer.Dense[float64], cfg pcnet.Config) (co *cluster.Coordinator[float64], stop func() error, err error) {
	srv, err := natsconn.Server{}.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var conns []interface{ Close() }
	var done []chan error
	stop = func() error {
		var errs []error
		if co != nil {
			errs = append(errs, co.Close())
		}
		for _, d := range done {
			errs = append(errs, <-d)
		}
		cancel()
		for _, nc := range conns {
			nc.Close()
		}
		srv.Shutdown()
		return errors.Join(errs...)
	}
	for _, r := range ranges {
		nc, err := natsconn.DialEmbedded(ctx, srv, r.String())
		if err != nil {
			return nil, nil, errors.Join(err, stop())
		}
		conns = append(conns, nc)
		d := make(chan error, 1)
		go func() {
			d <- cluster.Serve(ctx, cluster.WorkerOptions{Conn: nc, Key: linksKey, Run: "links", Nodes: r, Timeout: time.Minute})
		}()
		done = append(done, d)
	}
	nc, err := natsconn.DialEmbedded(ctx, srv, "coordinator")
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	conns = append(conns, nc)
	o := cluster.Options{Conn: nc, Key: linksKey, Run: "links", Workers: ranges, Timeout: time.Minute, Delay: delay, Traffic: m.AddLinkTraffic}
	if co, err = cluster.NewCoordinator(ctx, o, layers, cfg); err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return co, stop, nil
}

// linksKey is the run key of the tests' workers.
var linksKey = bytes.Repeat([]byte{1}, cluster.KeySize)

// TestRejectedMessages: the rejected messages handed to AddRejected are counted by kind
// and reason, added up.
func TestRejectedMessages(t *testing.T) {
	m, _ := newTestMetrics(t, 8)
	m.AddRejected("heartbeat", "mac", 2)
	m.AddRejected("heartbeat", "mac", 3)
	m.AddRejected("command", "foreign coordinator", 1)
	want := `
# HELP pcnet_rejected_messages_total Messages between processes dropped unread (kind: link, command, report, heartbeat, claim; reason: mac, replay, malformed, foreign coordinator, ...), by the coordinator and its workers: forged, replayed or stray traffic on the run's subjects.
# TYPE pcnet_rejected_messages_total counter
pcnet_rejected_messages_total{kind="command",reason="foreign coordinator"} 1
pcnet_rejected_messages_total{kind="heartbeat",reason="mac"} 5
`
	require.NoError(t, testutil.CollectAndCompare(m.links, strings.NewReader(want), rejectedName))
}

// TestLinkTrafficFromWorkers: a network of three nodes in three workers, so that both
// links cross processes. What the coordinator's metrics show of the links is what the
// nodes sent: per direction, as many latencies as messages, and on the wire a header per
// message (none is chunked) plus the payload bytes. A delay injected on every hop shows
// in every latency.
func TestLinkTrafficFromWorkers(t *testing.T) {
	const h, batches, delay = 1, 3, 5 * time.Millisecond
	sizes := []int{6, 5, 3}
	for _, d := range []time.Duration{0, delay} {
		t.Run(fmt.Sprintf("delay=%v", d), func(t *testing.T) {
			m, reg := newTestMetrics(t, 8)
			spec := netSpec{variant: pcnet.Standard, engine: pcnet.Parallel, sizes: sizes, steps: 3, batch: 4, seed: 5}
			layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(5, 1)))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			co, stop, err := startWorkers(ctx, m, []cluster.Range{{Lo: 0, Hi: 0}, {Lo: 1, Hi: 1}, {Lo: 2, Hi: 2}}, d, layers, spec.config(m))
			require.NoError(t, err)
			for i := range batches {
				x, labels := randomBatch(spec.batch, sizes[0], sizes[h+1], uint64(i))
				_, err := co.Step(batchCtx(t), x, labels)
				require.NoError(t, err)
			}
			require.NoError(t, stop())

			require.Equal(t, 2*(h+1), testutil.CollectAndCount(m.links, linkLatencyName), "every link direction between workers")
			require.Equal(t, 2*(h+1), testutil.CollectAndCount(m.links, linkWireBytesName))
			families, err := reg.Gather()
			require.NoError(t, err)
			for _, dir := range []channels.Direction{channels.Up, channels.Down} {
				var messages, payload float64
				for _, p := range channels.Payloads() {
					messages += testutil.ToFloat64(m.messages.WithLabelValues("pc", dir.String(), p.String()))
					payload += testutil.ToFloat64(m.messageBytes.WithLabelValues("pc", dir.String(), p.String()))
				}
				require.Positive(t, messages)
				var count uint64
				var wire float64
				for _, s := range series(families, linkLatencyName, dir) {
					hist := s.GetHistogram()
					count += hist.GetSampleCount()
					require.GreaterOrEqual(t, hist.GetSampleSum(), float64(hist.GetSampleCount())*d.Seconds(), "%v latencies' sum", dir)
					for _, b := range hist.GetBucket() {
						if b.GetUpperBound() < d.Seconds() {
							require.Zero(t, b.GetCumulativeCount(), "%v: latencies at most %vs, below the %v delay", dir, b.GetUpperBound(), d)
						}
					}
				}
				for _, s := range series(families, linkWireBytesName, dir) {
					wire += s.GetCounter().GetValue()
				}
				require.Equal(t, messages, float64(count), "%v: a latency per message", dir)
				require.Equal(t, (72+40)*messages+payload, wire, "%v: a 72-byte header and a 40-byte trailer (the run key's MAC) per message, and the payload", dir)
			}
		})
	}
}

// series returns the series of the family name in direction dir.
func series(families []*dto.MetricFamily, name string, dir channels.Direction) []*dto.Metric {
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == labelDirection && l.GetValue() == dir.String() {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func TestAddLinkTrafficRejects(t *testing.T) {
	m, _ := newTestMetrics(t, 8)
	require.EqualError(t, m.AddLinkTraffic(channels.Traffic{Lower: -1, Dir: channels.Up}), "metrics: AddLinkTraffic: link -1-0: want a lower node 0..1023")
	require.EqualError(t, m.AddLinkTraffic(channels.Traffic{Lower: 2}), "metrics: AddLinkTraffic: link 2-3: direction Direction(0) is neither up nor down")
	require.Zero(t, testutil.CollectAndCount(m.links), "nothing added")
}

// TestLinkLatencyHistogram: the link-latency histogram counts every latency a worker
// reported, those above the last bound (1 s, the +Inf bucket) included, and each
// bucket counts the latencies at or below its bound (le is inclusive).
func TestLinkLatencyHistogram(t *testing.T) {
	bounds := channels.LatencyBuckets()
	last := time.Duration(bounds[len(bounds)-1] * float64(time.Second))
	for _, tc := range []struct {
		name      string
		latencies []time.Duration
	}{
		{"below the first bound", []time.Duration{time.Microsecond, 5 * time.Microsecond}},
		{"on the last bound", []time.Duration{last}},
		{"above the last bound", []time.Duration{last + time.Nanosecond, 3 * time.Second}},
		{"every bucket", []time.Duration{0, 10 * time.Microsecond, 2 * time.Millisecond, last, 2 * last, time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, 8)
			var lc channels.LatencyCounter
			var sum time.Duration
			for _, d := range tc.latencies {
				lc.Observe(d)
				sum += d
			}
			// Two reports of the same direction add up.
			for range 2 {
				require.NoError(t, m.AddLinkTraffic(channels.Traffic{Lower: 1, Dir: channels.Up, Messages: uint64(len(tc.latencies)), Latency: lc.Load()}))
			}
			families, err := reg.Gather()
			require.NoError(t, err)
			s := series(families, linkLatencyName, channels.Up)
			require.Len(t, s, 1)
			hist := s[0].GetHistogram()
			require.Equal(t, uint64(2*len(tc.latencies)), hist.GetSampleCount(), "every latency, those above %v included", last)
			require.InDelta(t, 2*sum.Seconds(), hist.GetSampleSum(), 1e-9)
			require.Len(t, hist.GetBucket(), len(bounds))
			for i, b := range hist.GetBucket() {
				require.Equal(t, bounds[i], b.GetUpperBound())
				var atOrBelow uint64
				for _, d := range tc.latencies {
					if d.Seconds() <= b.GetUpperBound() {
						atOrBelow += 2
					}
				}
				require.Equal(t, atOrBelow, b.GetCumulativeCount(), "bucket le=%v", b.GetUpperBound())
			}
		})
	}
}

// TestSkipLinkTraffic: a long skip's traffic (docs/design.md §11) is a series of its own,
// labelled by its two nodes, beside the chain link from the same lower node (whose
// traffic may or may not name its upper node); an upper node not above the lower one, or
// beyond the network, is refused.
func TestSkipLinkTraffic(t *testing.T) {
	m, reg := newTestMetrics(t, 8)
	for _, tf := range []channels.Traffic{
		{Lower: 1, Dir: channels.Up, Messages: 1, WireBytes: 10},           // chain link 1-2, upper unnamed
		{Lower: 1, Upper: 2, Dir: channels.Up, Messages: 1, WireBytes: 20}, // the same link, named
		{Lower: 1, Upper: 4, Dir: channels.Up, Messages: 1, WireBytes: 300},
		{Lower: 1, Upper: 4, Dir: channels.Down, Messages: 1, WireBytes: 4000},
	} {
		require.NoError(t, m.AddLinkTraffic(tf))
	}
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, dir := range []channels.Direction{channels.Up, channels.Down} {
		for _, s := range series(families, linkWireBytesName, dir) {
			for _, l := range s.GetLabel() {
				if l.GetName() == labelLink {
					got[l.GetValue()+" "+dir.String()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	require.Equal(t, map[string]float64{"1-2 up": 30, "1-4 up": 300, "1-4 down": 4000}, got)

	for _, tc := range []struct {
		tf   channels.Traffic
		want string
	}{
		{channels.Traffic{Lower: 3, Upper: 3, Dir: channels.Up}, "metrics: AddLinkTraffic: link 3-3: want an upper node 4..1024"},
		{channels.Traffic{Lower: 3, Upper: 1, Dir: channels.Up}, "metrics: AddLinkTraffic: link 3-1: want an upper node 4..1024"},
		{channels.Traffic{Lower: 3, Upper: 1025, Dir: channels.Down}, "metrics: AddLinkTraffic: link 3-1025: want an upper node 4..1024"},
	} {
		require.EqualError(t, m.AddLinkTraffic(tc.tf), tc.want)
	}
}
