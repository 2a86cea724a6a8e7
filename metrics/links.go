package metrics

import (
	"fmt"
	"sort"
	"sync"

	"github.com/pcnet/pcnet/channels"
	"github.com/prometheus/client_golang/prometheus"
)

// Series of the links between processes.
const (
	linkLatencyName   = "pcnet_link_latency_seconds"
	linkWireBytesName = "pcnet_link_wire_bytes_total"
	rejectedName      = "pcnet_rejected_messages_total"
	labelLink         = "link"
)

// linkTraffic is a collector of the traffic of the links between processes, as the
// workers report it: bucket counts that it adds up and exposes as constant histograms,
// since a Prometheus histogram observes values and cannot be handed counts.
type linkTraffic struct {
	latency, wire, rejected *prometheus.Desc
	bounds                  []float64

	mu      sync.Mutex
	links   map[linkKey]*linkTally
	rejects map[[2]string]uint64 // by kind and reason
}

type linkKey struct {
	lower, upper int // upper: lower+1 on a chain link, further on a long skip (§11)
	dir          channels.Direction
}

type linkTally struct {
	counts [channels.NumLatencyBuckets]uint64
	sum    float64 // seconds
	wire   uint64
}

func newLinkTraffic() *linkTraffic {
	return &linkTraffic{
		latency: prometheus.NewDesc(linkLatencyName,
			"Latency of the messages of a link between two processes (link = lower-upper node, direction up: predictions, down: errors), from the sender's Send to the receiver having the whole message, by the two processes' wall clocks (across machines it includes their offset; see package natslink).",
			[]string{labelLink, labelDirection}, nil),
		wire: prometheus.NewDesc(linkWireBytesName,
			"Bytes on the wire of the messages of a link between two processes, frame headers and every chunk included (pcnet_message_bytes_total counts payloads).",
			[]string{labelLink, labelDirection}, nil),
		rejected: prometheus.NewDesc(rejectedName,
			"Messages between processes dropped unread (kind: link, command, report, heartbeat, claim; reason: mac, replay, malformed, foreign coordinator, ...), by the coordinator and its workers: forged, replayed or stray traffic on the run's subjects.",
			[]string{"kind", "reason"}, nil),
		bounds:  channels.LatencyBuckets(),
		links:   map[linkKey]*linkTally{},
		rejects: map[[2]string]uint64{},
	}
}

func (c *linkTraffic) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.latency
	ch <- c.wire
	ch <- c.rejected
}

func (c *linkTraffic) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]linkKey, 0, len(c.links))
	for k := range c.links {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.lower < b.lower || a.lower == b.lower && (a.upper < b.upper || a.upper == b.upper && a.dir < b.dir)
	})
	for _, k := range keys {
		t := c.links[k]
		link, dir := fmt.Sprintf("%d-%d", k.lower, k.upper), k.dir.String()
		buckets := make(map[float64]uint64, len(c.bounds))
		var n uint64
		for i, b := range c.bounds {
			n += t.counts[i]
			buckets[b] = n
		}
		n += t.counts[len(c.bounds)]
		ch <- prometheus.MustNewConstHistogram(c.latency, n, t.sum, buckets, link, dir)
		ch <- prometheus.MustNewConstMetric(c.wire, prometheus.CounterValue, float64(t.wire), link, dir)
	}
	for k, n := range c.rejects {
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}

// AddRejected adds n messages of kind dropped for reason, by the coordinator or a worker
// (cluster.Options.Rejected), to pcnet_rejected_messages_total. It is safe for
// concurrent use.
func (m *Metrics) AddRejected(kind, reason string, n uint64) {
	c := m.links
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejects[[2]string{kind, reason}] += n
}

// AddLinkTraffic adds the traffic of one direction of a link between two processes, as
// a worker reports it (cluster.Options.Traffic), to pcnet_link_latency_seconds and
// pcnet_link_wire_bytes_total. In one process there are no such links and the series
// stay empty. It is safe for concurrent use.
func (m *Metrics) AddLinkTraffic(t channels.Traffic) error {
	if t.Lower < 0 || t.Lower > maxLayer {
		return fmt.Errorf("metrics: AddLinkTraffic: link %d-%d: want a lower node 0..%d", t.Lower, t.Lower+1, maxLayer)
	}
	upper := int(t.Upper)
	if upper == 0 {
		upper = t.Lower + 1 // traffic that does not name its upper node is a chain link's
	}
	if upper <= t.Lower || upper > maxLayer+1 {
		return fmt.Errorf("metrics: AddLinkTraffic: link %d-%d: want an upper node %d..%d", t.Lower, upper, t.Lower+1, maxLayer+1)
	}
	if t.Dir != channels.Up && t.Dir != channels.Down {
		return fmt.Errorf("metrics: AddLinkTraffic: link %d-%d: direction %v is neither up nor down", t.Lower, t.Lower+1, t.Dir)
	}
	c := m.links
	c.mu.Lock()
	defer c.mu.Unlock()
	k := linkKey{t.Lower, upper, t.Dir}
	tally := c.links[k]
	if tally == nil {
		tally = &linkTally{}
		c.links[k] = tally
	}
	for i, n := range t.Latency.Counts {
		tally.counts[i] += n
	}
	tally.sum += t.Latency.Sum.Seconds()
	tally.wire += t.WireBytes
	return nil
}
