package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/internal/render"
)

// natsRaw is benchmark output of the shape the section reads: a link 1.5x and 2.5x
// nats.go's request at two widths, a split update 1.1x in-process, and hop delays that
// add 10 hops from none to 100 µs and 10.6 from 100 µs to 1 ms.
const natsRaw = `
BenchmarkRoundTrip/width=64/carrier=nats-2         	    1000	    150000 ns/op	       150.0 us/roundtrip
BenchmarkRoundTrip/width=64/carrier=inprocess-2    	    1000	      1000 ns/op	         1.0 us/roundtrip
BenchmarkRoundTrip/width=64/carrier=request-2      	    1000	    100000 ns/op	       100.0 us/roundtrip
BenchmarkRoundTrip/width=1024/carrier=nats-2       	    1000	    500000 ns/op	       500.0 us/roundtrip
BenchmarkRoundTrip/width=1024/carrier=inprocess-2  	    1000	      2000 ns/op	         2.0 us/roundtrip
BenchmarkRoundTrip/width=1024/carrier=request-2    	    1000	    200000 ns/op	       200.0 us/roundtrip
BenchmarkSplitUpdate/width=1024/in-process-2       	       1	 100000000 ns/op
BenchmarkSplitUpdate/width=1024/workers=2-2        	       1	 110000000 ns/op
BenchmarkHopLatency/fpa/delay=0s-2                 	     100	   1000000 ns/op	        10.00 model-hops
BenchmarkHopLatency/fpa/delay=100µs-2              	     100	   2000000 ns/op	        10.00 model-hops
BenchmarkHopLatency/fpa/delay=1ms-2                	     100	  11500000 ns/op	        10.00 model-hops
`

func TestWriteNats(t *testing.T) {
	rs := results{}
	require.NoError(t, rs.read(strings.NewReader(natsRaw)))
	var b render.Markdown
	writeNats(&b, rs, rs.procs())
	got := b.String()
	for _, want := range []string{
		"## Across processes",
		"| 64 | 150 µs | 100 µs | 1.0 µs | 1.50 | 150.00 |",
		"- Worst link / request 2.5 against <= 2: not met.",
		"| 1024 | 100 ms | 110 ms | 1.10 |",
		"- Width 1024 on 2 cores: 2 workers / in-process 1.1 against <= 1.2: met.",
		"| variant | model | t(0s) | t(100µs) | t(1ms) | hops 0s→100µs | hops 100µs→1ms |",
		"| fpa | 10 | 1.00 ms | 2.00 ms | 12 ms | 10 | 10.6 |",
	} {
		require.Contains(t, got, want)
	}

	var targets render.Markdown
	natsTargets(&targets, rs, rs.procs(), func(ok bool) string { return map[bool]string{true: "met", false: "not met"}[ok] })
	require.Equal(t, "| [NATS link round trip / nats.go request](#one-message), widths 64-1024, batch 64, 2 cores: <= 2 | worst 2.50 | not met |\n"+
		"| [PC update, 2 workers / in-process](#a-pc-update-split-over-two-workers), width 1024, H = 8, 2 cores: <= 1.2 | 1.10 | met |\n", targets.String())

	var none render.Markdown
	writeNats(&none, results{}, []int{1})
	require.Empty(t, none.String(), "no section without its benchmarks")
}

// TestWriteAuth: the run key's cost per width and the worst against the target, from the
// paired benchmark alone (no other benchmark of the section is needed).
func TestWriteAuth(t *testing.T) {
	rs := results{}
	require.NoError(t, rs.read(strings.NewReader(`
BenchmarkRoundTripAuthPaired/width=64-2    3391  401864 ns/op  216.9 auth-us/roundtrip  1.10 auth/plain  184.9 plain-us/roundtrip
BenchmarkRoundTripAuthPaired/width=64-2    3391  401864 ns/op  216.9 auth-us/roundtrip  1.20 auth/plain  184.9 plain-us/roundtrip
BenchmarkRoundTripAuthPaired/width=64-2    3391  401864 ns/op  216.9 auth-us/roundtrip  1.15 auth/plain  184.9 plain-us/roundtrip
BenchmarkRoundTripAuthPaired/width=1024-2   424 2713321 ns/op   1537 auth-us/roundtrip  1.30 auth/plain   1176 plain-us/roundtrip
`)))
	var b render.Markdown
	writeAuth(&b, rs)
	got := b.String()
	require.Contains(t, got, "### Authentication")
	require.Contains(t, got, "| 64 | 185 µs | 217 µs | 1.15 |")
	require.Contains(t, got, "- Worst with / without 1.3 against <= 1.2: not met.")
	var targets render.Markdown
	natsTargets(&targets, rs, []int{2}, func(ok bool) string { return map[bool]string{true: "met", false: "not met"}[ok] })
	require.Contains(t, targets.String(), "with the run key / without](#authentication), widths 64-1024, batch 64, 2 cores: <= 1.2 | worst 1.30 | not met |")
	var none render.Markdown
	writeAuth(&none, results{})
	require.Empty(t, none.String())
}
