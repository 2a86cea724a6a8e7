package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pcnet/pcnet/internal/render"
)

// Targets of the section on links across processes (issue 12).
const (
	natsRoundTripBound = 2.0 // the link's round trip against nats.go's request
	splitUpdateBound   = 1.2 // two workers against in-process, width 1024, H = 8
	splitBoundWidth    = 1024
)

// writeNats writes the section on links across processes from the benchmarks of
// channels/natslink (BenchmarkRoundTrip/width=...) and cluster (BenchmarkSplitUpdate,
// BenchmarkHopLatency), when the run has them.
func writeNats(b *render.Markdown, rs results, procs []int) {
	const rt, split, hop = "BenchmarkRoundTrip/", "BenchmarkSplitUpdate/", "BenchmarkHopLatency/"
	rtWidths, splitWidths, hops := rs.values(rt, "width"), rs.values(split, "width"), rs.sortedNames(hop)
	if len(rtWidths)+len(splitWidths)+len(hops) == 0 {
		return
	}
	fmt.Fprintf(b, "## Across processes\n\nThe links between nodes carried over NATS (channels/natslink) on loopback, to an embedded server in the benchmark's process; the workers of package cluster are goroutines of the benchmark, each on a connection of its own, so that what is measured is the transport and the protocol, not process start-up. Medians at each core count (GOMAXPROCS).\n\n")

	if len(rtWidths) > 0 {
		fmt.Fprintf(b, "### One message\n\nBenchmarkRoundTrip (channels/natslink): one round trip of pcnet's exchange at batch 64, a prediction up and the error it causes back down, each released (one buffer per direction, pcnet's setting). *NATS link*: this transport between two connections (two messages and their two credits); *nats.go request*: nats.go's own `Request` to a responder answering with a payload of the same size, on the same server, in the same run: what a NATS round trip costs at the least; *in-process*: the same exchange between goroutines (channels.NewInProcess). Target: the link within %gx of the request.\n\n", natsRoundTripBound)
		for _, p := range procs {
			fmt.Fprintf(b, "**%d core(s)**\n\n", p)
			var rows [][]string
			for _, w := range rtWidths {
				link := rs.median(fmt.Sprintf("%swidth=%d/carrier=nats", rt, w), p)
				req := rs.median(fmt.Sprintf("%swidth=%d/carrier=request", rt, w), p)
				local := rs.median(fmt.Sprintf("%swidth=%d/carrier=inprocess", rt, w), p)
				rows = append(rows, []string{strconv.Itoa(w), render.Nanos(link), render.Nanos(req), render.Nanos(local), render.Ratio(link, req), render.Ratio(link, local)})
			}
			b.Table([]string{"width", "NATS link", "nats.go request", "in-process", "link / request", "link / in-process"}, rows)
			worst := worstLinkRatio(rs, p)
			fmt.Fprintf(b, "- Worst link / request %s against <= %g: %s.\n\n", render.Sig(worst), natsRoundTripBound, status(worst, natsRoundTripBound))
		}
	}

	if len(splitWidths) > 0 {
		fmt.Fprintf(b, "### A PC update split over two workers\n\nBenchmarkSplitUpdate (cluster): one standard-PC update (H = 8, T = 8, gamma 0.1, batch 64, SGD, the event schedule) by the parallel engine in one process, and by the same nodes split over two workers (nodes 0-4 and 5-9), the coordinator sending the batch and gathering the reports over NATS too. Target: at width %d, two workers within %gx of one process on this machine's %d cores.\n\n", splitBoundWidth, splitUpdateBound, procs[len(procs)-1])
		header := []string{"width"}
		for _, p := range procs {
			header = append(header, fmt.Sprintf("in-process (%d)", p), fmt.Sprintf("2 workers (%d)", p), fmt.Sprintf("ratio (%d)", p))
		}
		var rows [][]string
		for _, w := range splitWidths {
			row := []string{strconv.Itoa(w)}
			for _, p := range procs {
				one, two := rs.median(fmt.Sprintf("%swidth=%d/in-process", split, w), p), rs.median(fmt.Sprintf("%swidth=%d/workers=2", split, w), p)
				row = append(row, render.Nanos(one), render.Nanos(two), render.Ratio(two, one))
			}
			rows = append(rows, row)
		}
		b.Table(header, rows)
		if names := rs.sortedNames("BenchmarkSplitUpdatePaired/"); len(names) > 0 {
			b.WriteString("BenchmarkSplitUpdatePaired: the same two updates alternating in one loop (blocks of two, alternating order), so that the host's drift between two separately timed benchmarks does not enter the ratio; the target is judged on it.\n\n")
			header := []string{"width"}
			for _, p := range procs {
				header = append(header, fmt.Sprintf("2 workers / in-process (%d)", p))
			}
			var rows [][]string
			for _, name := range names {
				row := []string{strings.TrimPrefix(strings.TrimPrefix(name, "BenchmarkSplitUpdatePaired/"), "width=")}
				for _, p := range procs {
					row = append(row, render.Sig(rs.metric(name, p, "workers/in-process")))
				}
				rows = append(rows, row)
			}
			b.Table(header, rows)
		}
		p := procs[len(procs)-1]
		r := splitRatio(rs, p)
		fmt.Fprintf(b, "- Width %d on %d cores: 2 workers / in-process %s against <= %g: %s.\n\n", splitBoundWidth, p, render.Sig(r), splitUpdateBound, status(r, splitUpdateBound))
	}

	if len(hops) > 0 {
		writeHops(b, rs, procs, hop, hops)
	}
}

// authBound is issue 19's target: a link round trip with the run key within 1.2x of one
// without, at every width.
const authBound = 1.2

const authPrefix = "BenchmarkRoundTripAuthPaired/"

// worstAuthRatio is the largest median ratio of a round trip with the run key to one
// without over the widths, on the most cores measured (NaN, 0 when not run).
func worstAuthRatio(rs results) (worst float64, procs int) {
	ps := rs.procsOf(authPrefix)
	if len(ps) == 0 {
		return math.NaN(), 0
	}
	p := ps[len(ps)-1]
	worst = math.NaN()
	for _, w := range rs.values(authPrefix, "width") {
		if r := rs.metric(fmt.Sprintf("%swidth=%d", authPrefix, w), p, "auth/plain"); !(r <= worst) {
			worst = r
		}
	}
	return worst, p
}

// writeAuth writes what the run key costs a link round trip, from
// BenchmarkRoundTripAuthPaired (channels/natslink), when the run has it.
func writeAuth(b *render.Markdown, rs results) {
	const prefix = authPrefix
	worst, p := worstAuthRatio(rs)
	widths := rs.values(prefix, "width")
	if p == 0 || len(widths) == 0 {
		return
	}
	fmt.Fprintf(b, "### Authentication\n\nBenchmarkRoundTripAuthPaired (channels/natslink): a link round trip at batch 64 with the run key (every frame sealed and opened with AES-GMAC, docs/distributed.md) and one without, alternating in one loop, so that the host's drift cancels in the ratio; median of the ratios on %d core(s). Target: within %gx.\n\n", p, authBound)
	var rows [][]string
	for _, w := range widths {
		name := fmt.Sprintf("%swidth=%d", prefix, w)
		r := rs.metric(name, p, "auth/plain")
		rows = append(rows, []string{strconv.Itoa(w), render.Nanos(1e3 * rs.metric(name, p, "plain-us/roundtrip")), render.Nanos(1e3 * rs.metric(name, p, "auth-us/roundtrip")), render.Sig(r)})
	}
	b.Table([]string{"width", "without the key", "with the key", "with / without"}, rows)
	fmt.Fprintf(b, "- Worst with / without %s against <= %g: %s.\n\n", render.Sig(worst), authBound, status(worst, authBound))
}

// worstLinkRatio is the largest ratio of the link's round trip to nats.go's request over
// the widths measured on p cores (NaN if none).
func worstLinkRatio(rs results, p int) float64 {
	worst := math.NaN()
	for _, w := range rs.values("BenchmarkRoundTrip/", "width") {
		r := rs.median(fmt.Sprintf("BenchmarkRoundTrip/width=%d/carrier=nats", w), p) / rs.median(fmt.Sprintf("BenchmarkRoundTrip/width=%d/carrier=request", w), p)
		if !math.IsNaN(r) && !(r <= worst) {
			worst = r
		}
	}
	return worst
}

// splitRatio is the ratio of the update over two workers to one process at the target's
// width on p cores.
func splitRatio(rs results, p int) float64 {
	if r := rs.metric(fmt.Sprintf("BenchmarkSplitUpdatePaired/width=%d", splitBoundWidth), p, "workers/in-process"); !math.IsNaN(r) {
		return r // paired: the host's drift cancels
	}
	return rs.median(fmt.Sprintf("BenchmarkSplitUpdate/width=%d/workers=2", splitBoundWidth), p) / rs.median(fmt.Sprintf("BenchmarkSplitUpdate/width=%d/in-process", splitBoundWidth), p)
}

// natsTargets adds the section's targets to the table of targets, when the run has
// their benchmarks.
func natsTargets(b *render.Markdown, rs results, procs []int, met func(bool) string) {
	p := procs[len(procs)-1]
	if worst := worstLinkRatio(rs, p); !math.IsNaN(worst) {
		fmt.Fprintf(b, "| [NATS link round trip / nats.go request](#one-message), widths 64-1024, batch 64, %d cores: <= %g | worst %.2f | %s |\n", p, natsRoundTripBound, worst, met(worst <= natsRoundTripBound))
	}
	if r := splitRatio(rs, p); !math.IsNaN(r) {
		fmt.Fprintf(b, "| [PC update, 2 workers / in-process](#a-pc-update-split-over-two-workers), width %d, H = 8, %d cores: <= %g | %.2f | %s |\n", splitBoundWidth, p, splitUpdateBound, r, met(r <= splitUpdateBound))
	}
	if r, ap := worstAuthRatio(rs); ap > 0 {
		fmt.Fprintf(b, "| [NATS link round trip with the run key / without](#authentication), widths 64-1024, batch 64, %d cores: <= %g | worst %.2f | %s |\n", ap, authBound, r, met(r <= authBound))
	}
}

// writeHops writes the update time against the delay added to every hop, beside the
// model of the hops an update waits for one after another.
func writeHops(b *render.Markdown, rs results, procs []int, prefix string, names []string) {
	type row struct {
		variant string
		delays  map[time.Duration]string // benchmark name by delay
	}
	var rows []*row
	var delays []time.Duration
	seen := map[time.Duration]bool{}
	for _, name := range names {
		v, d, ok := strings.Cut(strings.TrimPrefix(name, prefix), "/delay=")
		delay, err := time.ParseDuration(d)
		if !ok || err != nil {
			continue
		}
		if len(rows) == 0 || rows[len(rows)-1].variant != v {
			rows = append(rows, &row{variant: v, delays: map[time.Duration]string{}})
		}
		rows[len(rows)-1].delays[delay] = name
		if !seen[delay] {
			seen[delay] = true
			delays = append(delays, delay)
		}
	}
	slices.Sort(delays)
	fmt.Fprintf(b, "### Update time against the latency of a hop\n\nBenchmarkHopLatency (cluster): one update of each PC variant (H = 4, width 64, T = H, gamma 1, batch 64) with every node in a worker of its own, every message between them held back by a delay d (natslink's Delay option: the hop takes d longer, the sender does not wait). *hops a→b*: (t(b) - t(a)) / (b - a), how many hops the update waited for one after another; *model*: the hops an update must wait for one after another when every node is a process and computing takes no time (sequentialHops in cluster/bench_test.go): 2(H+1) for FPA-PC, the count of backprop's forward and backward waves were its layers in processes of their own, and (H+1) + 2T + 1 for the variants that re-send predictions (a round trip at the top every step). From no delay to one, every frame starts going through the delay line (a copy, a goroutine and a Go timer), whose own cost, a timer wake-up on a busy machine, can outweigh a short delay; between two delays it is paid at both, so the hops between the two longest delays come closest to the hops waited for (on one core the delay line competes with the nodes for the core, and the figures scatter more).\n\n")
	for _, p := range procs {
		fmt.Fprintf(b, "**%d core(s)**\n\n", p)
		header := []string{"variant", "model"}
		for _, d := range delays {
			header = append(header, fmt.Sprintf("t(%v)", d))
		}
		for i := 1; i < len(delays); i++ {
			header = append(header, fmt.Sprintf("hops %v→%v", delays[i-1], delays[i]))
		}
		var table [][]string
		for _, r := range rows {
			cells := []string{r.variant, render.Sig(rs.metric(r.delays[delays[0]], p, "model-hops"))}
			for _, d := range delays {
				cells = append(cells, render.Nanos(rs.median(r.delays[d], p)))
			}
			for i := 1; i < len(delays); i++ {
				a, z := delays[i-1], delays[i]
				cells = append(cells, render.Sig((rs.median(r.delays[z], p)-rs.median(r.delays[a], p))/float64((z-a).Nanoseconds())))
			}
			table = append(table, cells)
		}
		b.Table(header, table)
	}
}

// status says whether v met an upper bound.
func status(v, bound float64) string {
	switch {
	case math.IsNaN(v):
		return "not measured"
	case v <= bound:
		return "met"
	}
	return "not met"
}
