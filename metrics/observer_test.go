package metrics

import (
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"math"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

var engines = []pcnet.Engine{pcnet.Sequential, pcnet.Parallel}

func TestErrorTrackOutcome(t *testing.T) {
	const tol = 1e-6
	type st = [3]float64 // step, ErrorMaxAbs, ChangeMaxAbs
	tests := []struct {
		name  string
		steps []st
		want  outcome
	}{
		{"no steps", nil, outcome{unobserved: true}},
		{"stays zero", []st{{0, 0, 0}, {1, 0, 0}, {2, 0, 0}}, outcome{unreached: true}},
		{"arrives and stays", []st{{0, 0, 0}, {1, 0, 0}, {2, 0.5, 0.5}, {3, 0.5, 0}, {4, 0.5, 0}},
			outcome{firstNonzero: 2, converged: true, convergence: 2}},
		{"arrives at the last step", []st{{0, 0, 0}, {1, 0, 0}, {2, 0.5, 0.5}},
			outcome{firstNonzero: 2, convergence: 2}},
		{"settles within tolerance", []st{{0, 0, 0}, {1, 1, 1}, {2, 1.1, 0.1}, {3, 1.1, 1e-3}, {4, 1.1, 1e-7}, {5, 1.1, 0}},
			outcome{firstNonzero: 1, converged: true, convergence: 3}},
		{"moves again late", []st{{0, 0, 0}, {1, 1, 1}, {2, 1, 0}, {3, 2, 1}, {4, 2, 0}},
			outcome{firstNonzero: 1, converged: true, convergence: 3}},
		{"still moving", []st{{0, 0, 0}, {1, 1, 1}, {2, 0.5, 0.5}, {3, 0.25, 0.25}},
			outcome{firstNonzero: 1, convergence: 3}},
		{"returns to zero", []st{{0, 0, 0}, {1, 1, 1}, {2, 0, 1}, {3, 0, 0}},
			outcome{firstNonzero: 1, converged: true, convergence: 2}},
		{"tiny but relative", []st{{0, 0, 0}, {1, 1e-12, 1e-12}, {2, 1e-12, 0}},
			outcome{firstNonzero: 1, converged: true, convergence: 1}},
		{"NaN never converges", []st{{0, 0, 0}, {1, math.NaN(), math.NaN()}, {2, math.NaN(), math.NaN()}},
			outcome{firstNonzero: 1, convergence: 2}},
		{"infinite never converges", []st{{0, 0, 0}, {1, math.Inf(1), math.Inf(1)}, {2, math.Inf(1), 0}},
			outcome{firstNonzero: 1, convergence: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k errorTrack
			k.reset()
			for _, s := range tt.steps {
				k.step(pcnet.StepStats{Step: int(s[0]), ErrorMaxAbs: s[1], ChangeMaxAbs: s[2]}, tol)
			}
			require.Equal(t, tt.want, k.outcome())
		})
	}
}

// FPA with gamma 1 (pcnet.NodeInfo.Exact): the node at distance d holds its exact error
// from step d on, so an error that moved at the last step T >= d has converged.
func TestErrorTrackExact(t *testing.T) {
	const tol = 1e-6
	type st = [3]float64 // step, ErrorMaxAbs, ChangeMaxAbs
	tests := []struct {
		name     string
		distance int
		steps    []st
		want     outcome
	}{
		{"arrives at the last step T = d", 2, []st{{0, 0, 0}, {1, 0, 0}, {2, 0.5, 0.5}},
			outcome{firstNonzero: 2, converged: true, convergence: 2}},
		{"T > d", 1, []st{{0, 0, 0}, {1, 0.5, 0.5}, {2, 0.5, 0}},
			outcome{firstNonzero: 1, converged: true, convergence: 1}},
		{"T < d: not yet exact", 3, []st{{0, 0, 0}, {1, 0, 0}, {2, 0.5, 0.5}},
			outcome{firstNonzero: 2, convergence: 2}},
		{"not reached", 3, []st{{0, 0, 0}, {1, 0, 0}, {2, 0, 0}}, outcome{unreached: true}},
		{"NaN is never final", 1, []st{{0, 0, 0}, {1, math.NaN(), math.NaN()}},
			outcome{firstNonzero: 1, convergence: 1}},
		{"infinite is never final", 1, []st{{0, 0, 0}, {1, math.Inf(1), math.Inf(1)}},
			outcome{firstNonzero: 1, convergence: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := errorTrack{settledFrom: tt.distance}
			// Twice: what is known survives the reset between inferences.
			for range 2 {
				k.reset()
				for _, s := range tt.steps {
					k.step(pcnet.StepStats{Step: int(s[0]), ErrorMaxAbs: s[1], ChangeMaxAbs: s[2]}, tol)
				}
				require.Equal(t, tt.want, k.outcome())
			}
		})
	}
}

// firstNonzeroText is the exposition of the first non-zero histogram of an H = 3 network
// after three inferences with T >= 3 and MaxStep 4, as Theorem 1 has it: one observation
// per inference for each distance d, all in bucket le=d.
const firstNonzeroText = `
# HELP pcnet_error_first_nonzero_step Inference step at which a hidden node's error first became non-zero, one observation per node per inference (Theorem 1: exactly the node's distance from the output).
# TYPE pcnet_error_first_nonzero_step histogram
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="0"} 0
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="1"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="2"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="3"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="4"} 3
pcnet_error_first_nonzero_step_bucket{distance="1",variant="VARIANT",le="+Inf"} 3
pcnet_error_first_nonzero_step_sum{distance="1",variant="VARIANT"} 3
pcnet_error_first_nonzero_step_count{distance="1",variant="VARIANT"} 3
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="0"} 0
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="1"} 0
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="2"} 3
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="3"} 3
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="4"} 3
pcnet_error_first_nonzero_step_bucket{distance="2",variant="VARIANT",le="+Inf"} 3
pcnet_error_first_nonzero_step_sum{distance="2",variant="VARIANT"} 6
pcnet_error_first_nonzero_step_count{distance="2",variant="VARIANT"} 3
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="0"} 0
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="1"} 0
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="2"} 0
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="3"} 3
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="4"} 3
pcnet_error_first_nonzero_step_bucket{distance="3",variant="VARIANT",le="+Inf"} 3
pcnet_error_first_nonzero_step_sum{distance="3",variant="VARIANT"} 9
pcnet_error_first_nonzero_step_count{distance="3",variant="VARIANT"} 3
`

func TestFirstNonzeroStepIsTheDistance(t *testing.T) {
	for _, v := range pcnet.Variants() {
		for _, eng := range engines {
			t.Run(fmt.Sprintf("%s/%s", v, eng), func(t *testing.T) {
				m, reg := newTestMetrics(t, 4)
				spec := netSpec{variant: v, engine: eng, sizes: []int{6, 5, 4, 5, 3}, steps: 3, batch: 4, seed: 11}
				spec.run(t, m, 3, true)
				want := strings.ReplaceAll(firstNonzeroText, "VARIANT", v.String())
				require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "pcnet_error_first_nonzero_step"))
				for d := 1; d <= 3; d++ {
					require.Zero(t, testutil.ToFloat64(m.unreached.WithLabelValues(v.String(), fmt.Sprint(d))), "distance %d", d)
				}
			})
		}
	}
}

// With gamma = 1, FPA-PC's error at distance d takes its final value at step d and keeps
// it: it converges at d, also where d = T, whose last step moved it to its exact value
// (pcnet.NodeInfo.Exact): no node is unconverged.
func TestFixedPredictionConvergesAtItsDistance(t *testing.T) {
	const want = `
# HELP pcnet_error_convergence_step Inference step after which a hidden node's error changed by no more than the relative convergence tolerance until the end of inference, one observation per node per inference that converged.
# TYPE pcnet_error_convergence_step histogram
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="0"} 0
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="1"} 3
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="2"} 3
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="3"} 3
pcnet_error_convergence_step_bucket{distance="1",variant="fpa",le="+Inf"} 3
pcnet_error_convergence_step_sum{distance="1",variant="fpa"} 3
pcnet_error_convergence_step_count{distance="1",variant="fpa"} 3
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="0"} 0
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="1"} 0
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="2"} 3
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="3"} 3
pcnet_error_convergence_step_bucket{distance="2",variant="fpa",le="+Inf"} 3
pcnet_error_convergence_step_sum{distance="2",variant="fpa"} 6
pcnet_error_convergence_step_count{distance="2",variant="fpa"} 3
pcnet_error_convergence_step_bucket{distance="3",variant="fpa",le="0"} 0
pcnet_error_convergence_step_bucket{distance="3",variant="fpa",le="1"} 0
pcnet_error_convergence_step_bucket{distance="3",variant="fpa",le="2"} 0
pcnet_error_convergence_step_bucket{distance="3",variant="fpa",le="3"} 3
pcnet_error_convergence_step_bucket{distance="3",variant="fpa",le="+Inf"} 3
pcnet_error_convergence_step_sum{distance="3",variant="fpa"} 9
pcnet_error_convergence_step_count{distance="3",variant="fpa"} 3
# HELP pcnet_error_unconverged_total Inferences in which a hidden node's error still changed by more than the relative convergence tolerance at the last step.
# TYPE pcnet_error_unconverged_total counter
pcnet_error_unconverged_total{distance="1",variant="fpa"} 0
pcnet_error_unconverged_total{distance="2",variant="fpa"} 0
pcnet_error_unconverged_total{distance="3",variant="fpa"} 0
`
	for _, eng := range engines {
		t.Run(eng.String(), func(t *testing.T) {
			m, reg := newTestMetrics(t, 3)
			spec := netSpec{variant: pcnet.FixedPrediction, engine: eng, sizes: []int{6, 5, 4, 5, 3}, steps: 3, batch: 4, seed: 12}
			spec.run(t, m, 3, true)
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
				"pcnet_error_convergence_step", "pcnet_error_unconverged_total"))
		})
	}
}

// With T below a node's distance its error never arrives: Theorem 1's other face.
func TestErrorsBeyondTStayUnreached(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.String(), func(t *testing.T) {
			m, _ := newTestMetrics(t, 4)
			spec := netSpec{variant: pcnet.Standard, engine: eng, sizes: []int{6, 5, 4, 5, 3}, steps: 1, batch: 4, seed: 13}
			spec.run(t, m, 2, false)
			for d, want := range map[string]float64{"1": 0, "2": 2, "3": 2} {
				require.Equal(t, want, testutil.ToFloat64(m.unreached.WithLabelValues("pc", d)), "unreached at distance %s", d)
			}
			require.Equal(t, 2.0, testutil.ToFloat64(m.unconverged.WithLabelValues("pc", "1")), "distance 1 arrives at the last step")
			sum := m.Summary()
			require.Len(t, sum, 3)
			require.Equal(t, 1.0, sum[0].FirstNonzero)
			require.Equal(t, 2, sum[0].Inferences)
		})
	}
}

// The work counters must match the runtime's own accounting (pcnet's package docs):
// H·T + H + 1 VJPs per update, T+1 errors down from every non-input node, and one
// prediction up from every non-output node plus T more from every hidden node that
// resends predictions (not under FPA). The dense schedule computes and sends all of them
// in full; the event schedule splits the same totals into computed and skipped products
// and full, zero and unchanged messages, and under FPA with gamma 1 computes backprop's
// 2H + 1.
func TestWorkCounters(t *testing.T) {
	const h, T, batch, n = 2, 3, 4, 3
	sizes := []int{6, 5, 4, 3}
	sum := func(c *prometheus.CounterVec, labels ...[]string) float64 {
		var s float64
		for _, l := range labels {
			s += testutil.ToFloat64(c.WithLabelValues(l...))
		}
		return s
	}
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard} {
		for _, eng := range engines {
			for _, sched := range []pcnet.Schedule{pcnet.Dense, pcnet.Event} {
				for _, learn := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/%s/learn=%v", v, eng, sched, learn), func(t *testing.T) {
						m, _ := newTestMetrics(t, 4)
						spec := netSpec{variant: v, engine: eng, schedule: sched, sizes: sizes, steps: T, batch: batch, seed: 14}
						spec.run(t, m, n, learn)
						vs := v.String()
						require.Equal(t, float64(n), testutil.ToFloat64(m.inferences.WithLabelValues(vs)))
						updates := 0.0
						if learn {
							updates = n
						}
						require.Equal(t, updates, testutil.ToFloat64(m.updates.WithLabelValues(vs)))
						require.Equal(t, float64(n*T), testutil.ToFloat64(m.steps.WithLabelValues(vs)))
						computed := testutil.ToFloat64(m.vjps.WithLabelValues(vs, "computed"))
						skipped := testutil.ToFloat64(m.vjps.WithLabelValues(vs, "skipped"))
						require.Equal(t, float64(n*(h*T+h+1)), computed+skipped)
						switch {
						case sched == pcnet.Dense:
							require.Zero(t, skipped)
						case v == pcnet.FixedPrediction: // gamma 1, T >= H
							require.Equal(t, float64(n*(2*h+1)), computed, "backprop's count")
						default:
							require.Equal(t, float64(n*h*(h-1)/2), skipped, "the products before the wavefront")
						}
						require.Equal(t, float64(h), testutil.ToFloat64(m.hidden.WithLabelValues(vs)))

						var up, down, bytesUp, bytesDown int
						for l := 0; l <= h+1; l++ {
							if l > 0 {
								down += T + 1
								bytesDown += (T + 1) * batch * sizes[l] * 8
							}
							if l <= h {
								k := 1
								if l >= 1 && v != pcnet.FixedPrediction {
									k += T
								}
								up += k
								bytesUp += k * batch * sizes[l+1] * 8
							}
						}
						payloads := func(dir string) [][]string {
							return [][]string{{vs, dir, "full"}, {vs, dir, "zero"}, {vs, dir, "unchanged"}}
						}
						require.Equal(t, float64(n*up), sum(m.messages, payloads("up")...))
						require.Equal(t, float64(n*down), sum(m.messages, payloads("down")...))
						full := sum(m.messages, []string{vs, "up", "full"}, []string{vs, "down", "full"})
						fullBytes := sum(m.messageBytes, payloads("up")...) + sum(m.messageBytes, payloads("down")...)
						if sched == pcnet.Dense {
							require.Equal(t, float64(n*(up+down)), full, "every message full")
							require.Equal(t, float64(n*bytesUp), sum(m.messageBytes, payloads("up")...))
							require.Equal(t, float64(n*bytesDown), sum(m.messageBytes, payloads("down")...))
						} else {
							require.Less(t, full, float64(n*(up+down)), "some messages without a payload")
							require.Less(t, fullBytes, float64(n*(bytesUp+bytesDown)))
						}
						require.Zero(t, sum(m.messageBytes, []string{vs, "down", "zero"}, []string{vs, "down", "unchanged"}), "no bytes without a payload")

						require.Equal(t, h+2, testutil.CollectAndCount(m.compute), "one compute series per node")
						require.Equal(t, h+2, testutil.CollectAndCount(m.wait), "one wait series per node")
						var compute float64
						for l := 0; l <= h+1; l++ {
							compute += testutil.ToFloat64(m.compute.WithLabelValues(vs, fmt.Sprint(l)))
						}
						require.Positive(t, compute)
						if eng == pcnet.Sequential {
							require.Zero(t, testutil.ToFloat64(m.wait.WithLabelValues(vs, "1")), "nothing waits in one goroutine")
						}
					})
				}
			}
		}
	}
}

func TestSummary(t *testing.T) {
	m, _ := newTestMetrics(t, 8)
	require.Empty(t, m.Summary())
	netSpec{variant: pcnet.FixedPrediction, engine: pcnet.Parallel, sizes: []int{6, 5, 4, 5, 3}, steps: 3, batch: 4, seed: 15}.run(t, m, 3, true)
	netSpec{variant: pcnet.ZeroDivergence, engine: pcnet.Sequential, sizes: []int{6, 5, 3}, steps: 0, batch: 4, seed: 16}.run(t, m, 2, false)
	nan := math.NaN()
	got := m.Summary()
	want := Summary{
		{Variant: pcnet.FixedPrediction, Distance: 1, Inferences: 3, FirstNonzero: 1, Convergence: 1},
		{Variant: pcnet.FixedPrediction, Distance: 2, Inferences: 3, FirstNonzero: 2, Convergence: 2},
		{Variant: pcnet.FixedPrediction, Distance: 3, Inferences: 3, FirstNonzero: 3, Convergence: 3},
		{Variant: pcnet.ZeroDivergence, Distance: 1, Inferences: 2, FirstNonzero: nan, Convergence: nan, Unreached: 2},
	}
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, [5]any{w.Variant, w.Distance, w.Inferences, w.Unconverged, w.Unreached},
			[5]any{g.Variant, g.Distance, g.Inferences, g.Unconverged, g.Unreached}, "row %d", i)
		for _, p := range [][2]float64{{w.FirstNonzero, g.FirstNonzero}, {w.Convergence, g.Convergence}} {
			if math.IsNaN(p[0]) {
				require.True(t, math.IsNaN(p[1]), "row %d: got %v, want NaN", i, p[1])
			} else {
				require.Equal(t, p[0], p[1], "row %d", i)
			}
		}
	}
	t.Log("\n" + got.String())
	require.Regexp(t, `(?m)^fpa +3 +3 +3\.00 +3\.00 +0 +0 *$`, got.String())
	require.Regexp(t, `(?m)^zil +1 +2 +- +- +0 +2 *$`, got.String())
	require.Empty(t, m.Summary(), "a period starts at each call")
}

// The case on a real network: FPA with gamma 1 at H = 4 and T = 4, where the
// farthest node's error arrives, exactly, at the last step. Every distance d converges
// at step d and none is unconverged, under both engines and both schedules.
func TestFixedPredictionExactAtTEqualsH(t *testing.T) {
	for _, eng := range engines {
		for _, sched := range []pcnet.Schedule{pcnet.Event, pcnet.Dense} {
			t.Run(fmt.Sprintf("%s/%s", eng, sched), func(t *testing.T) {
				m, _ := newTestMetrics(t, 4)
				netSpec{variant: pcnet.FixedPrediction, engine: eng, schedule: sched, sizes: []int{6, 5, 4, 5, 4, 3}, steps: 4, batch: 4, seed: 21}.run(t, m, 2, true)
				sum := m.Summary()
				require.Len(t, sum, 4)
				for i, r := range sum {
					require.Equal(t, i+1, r.Distance)
					require.Equal(t, float64(r.Distance), r.FirstNonzero, "distance %d", r.Distance)
					require.Equal(t, float64(r.Distance), r.Convergence, "distance %d", r.Distance)
					require.Zero(t, r.Unconverged, "distance %d", r.Distance)
				}
			})
		}
	}
}
