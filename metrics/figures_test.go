package metrics

import (
	"math"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// handSteps is one inference of one node: (step, max|e|, max|Δe|) per step.
type handSteps [][3]float64

// TestReportedFiguresByHand feeds Metrics, through the pcnet.Observer interface a network
// calls, hand-made step sequences of an FPA network with H = 2, tolerance 0.1 and
// MaxStep 2, and compares what a user reads (the exposition and Summary) with values
// worked out by hand below, not with the package's own variables. The sequences sit on
// the boundaries: a change exactly tol·size (0.05 = 0.1·0.5, which does not move the
// error), an error of -0 (zero), an error at step 0 (bucket le="0"), and first non-zero
// and convergence steps beyond MaxStep (bucket +Inf only).
func TestReportedFiguresByHand(t *testing.T) {
	negZero := math.Copysign(0, -1)
	// Node 2 is at distance 1, node 1 at distance 2.
	inferences := []map[int]handSteps{
		{ // node 2: first 1, converged at 1 (0.05 <= 0.1·0.5); node 1: unreached
			2: {{0, 0, 0}, {1, 0.5, 0.5}, {2, 0.5, 0.05}, {3, 0.5, 0.05}},
			1: {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 0}},
		},
		{ // node 2: -0 is zero, first 1, moved at the last step (0.1 > 0.03); node 1: first 2, moved at the last step
			2: {{0, negZero, negZero}, {1, 0.2, 0.2}, {2, 0.3, 0.1}},
			1: {{0, 0, 0}, {1, 0, 0}, {2, 1, 1}},
		},
		{ // node 2: first 0, converged at 0; node 1: first 3 and converged at 3, both past MaxStep
			2: {{0, 0.4, 0.4}, {1, 0.4, 0}, {2, 0.4, 0}, {3, 0.4, 0}, {4, 0.4, 0}},
			1: {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0.25, 0.25}, {4, 0.25, 0.025}},
		},
	}
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{MaxStep: 2, ConvergenceTolerance: 0.1, SkipGoAndProcessCollectors: true})
	require.NoError(t, err)
	nodes := map[int]pcnet.NodeObserver{}
	for l := 0; l <= 3; l++ {
		nodes[l] = m.Node(pcnet.NodeInfo{Variant: pcnet.FixedPrediction, Hidden: 2, Node: l, Distance: 3 - l})
	}
	for _, inf := range inferences {
		for l := 0; l <= 3; l++ {
			for _, s := range inf[l] {
				nodes[l].Step(pcnet.StepStats{Step: int(s[0]), ErrorMaxAbs: s[1], ChangeMaxAbs: s[2]})
			}
			nodes[l].End(pcnet.NodeStats{})
		}
	}
	// first non-zero: distance 1 saw 1, 1, 0; distance 2 saw 2, 3.
	// convergence: distance 1 saw 1, 0 (one unconverged); distance 2 saw 3 (one
	// unconverged, one unreached).
	const want = `
# HELP pcnet_error_first_nonzero_step Inference step at which a hidden node's error first became non-zero, one observation per node per inference (Theorem 1: exactly the node's distance from the output).
# TYPE pcnet_error_first_nonzero_step histogram
pcnet_error_first_nonzero_step_bucket{distance="1",variant="fpa",le="0"} 1
pcnet_error_first_nonzero_step_bucket{distance="1",variant="fpa",le="1"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="fpa",le="2"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="fpa",le="+Inf"} 3
pcnet_error_first_nonzero_step_sum{distance="1",variant="fpa"} 2
pcnet_error_first_nonzero_step_count{distance="1",variant="fpa"} 3
pcnet_error_first_nonzero_step_bucket{distance="2",variant="fpa",le="0"} 0
pcnet_error_first_nonzero_step_bucket{distance="2",variant="fpa",le="1"} 0
pcnet_error_first_nonzero_step_bucket{distance="2",variant="fpa",le="2"} 1
pcnet_error_first_nonzero_step_bucket{distance="2",variant="fpa",le="+Inf"} 2
pcnet_error_first_nonzero_step_sum{distance="2",variant="fpa"} 5
pcnet_error_first_nonzero_step_count{distance="2",variant="fpa"} 2
# HELP pcnet_error_convergence_step Inference step after which a hidden node's error changed by no more than the relative convergence tolerance until the end of inference, one observation per node per inference that converged.
# TYPE pcnet_error_convergence_step histogram
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="0"} 1
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="1"} 2
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="2"} 2
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="+Inf"} 2
pcnet_error_convergence_step_sum{distance="1",variant="fpa"} 1
pcnet_error_convergence_step_count{distance="1",variant="fpa"} 2
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="0"} 0
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="1"} 0
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="2"} 0
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="+Inf"} 1
pcnet_error_convergence_step_sum{distance="2",variant="fpa"} 3
pcnet_error_convergence_step_count{distance="2",variant="fpa"} 1
# HELP pcnet_error_unconverged_total Inferences in which a hidden node's error still changed by more than the relative convergence tolerance at the last step.
# TYPE pcnet_error_unconverged_total counter
pcnet_error_unconverged_total{distance="1",variant="fpa"} 1
pcnet_error_unconverged_total{distance="2",variant="fpa"} 1
# HELP pcnet_error_unreached_total Inferences in which a hidden node's error stayed exactly zero to the last step (fewer steps than the node's distance).
# TYPE pcnet_error_unreached_total counter
pcnet_error_unreached_total{distance="1",variant="fpa"} 0
pcnet_error_unreached_total{distance="2",variant="fpa"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"pcnet_error_first_nonzero_step", "pcnet_error_convergence_step", "pcnet_error_unconverged_total", "pcnet_error_unreached_total"))

	got := m.Summary()
	require.Equal(t, Summary{
		// (1+1+0)/3 first non-zero; (1+0)/2 convergence over the two that converged.
		{Variant: pcnet.FixedPrediction, Distance: 1, Inferences: 3, FirstNonzero: 2.0 / 3, Convergence: 0.5, Unconverged: 1},
		// (2+3)/2 over the two that were reached; 3/1.
		{Variant: pcnet.FixedPrediction, Distance: 2, Inferences: 3, FirstNonzero: 2.5, Convergence: 3, Unreached: 1, Unconverged: 1},
	}, got)
	require.Equal(t, strings.Join([]string{
		"variant  distance  inferences  first nonzero  converged at  unconverged  unreached",
		"fpa      1         3           0.67           0.50          1            0",
		"fpa      2         3           2.50           3.00          1            1",
		"",
	}, "\n"), got.String())
}
