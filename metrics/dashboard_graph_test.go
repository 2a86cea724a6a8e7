package metrics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
)

// The distance panels' queries have one form (the dashboard's rows on Theorem 1):
//
//	sum by (L) (S1) / [on (M) group_left] sum by (L') (S2)
//
// with each S a series selector, bare or in rate(...[w]). evalRatio evaluates that form
// on one scrape of a registry: rate over a run that started at zero is the ratio of the
// totals, so a rate's window is ignored.
var (
	ratioForm  = regexp.MustCompile(`(?s)^\s*(sum by \([^)]*\) \(.*?\))\s*/\s*(?:on \(([^)]*)\) group_left\s*)?(sum by \([^)]*\) \(.*\))\s*$`)
	sumForm    = regexp.MustCompile(`(?s)^sum by \(([^)]*)\) \((?:rate\()?([a-z_]+)\{([^}]*)\}(?:\[[^\]]*\]\))?\)$`)
	matcherArg = regexp.MustCompile(`([a-z_]+)(=~|!=|=)"([^"]*)"`)
)

// promSeries is one series of a query's result: its labels and its value.
type promSeries struct {
	labels map[string]string
	value  float64
}

// evalRatio evaluates a distance panel's query on the gathered families; ok is false when
// the query is not of the form.
func evalRatio(t *testing.T, mfs []*dto.MetricFamily, expr string) (out []promSeries, ok bool) {
	t.Helper()
	m := ratioForm.FindStringSubmatch(expr)
	if m == nil {
		return nil, false
	}
	num, okN := evalSum(t, mfs, m[1])
	den, okD := evalSum(t, mfs, m[3])
	if !okN || !okD {
		return nil, false
	}
	on := splitLabels(m[2])
	for _, a := range num {
		for _, b := range den {
			if matches(a.labels, b.labels, on) {
				out = append(out, promSeries{a.labels, a.value / b.value})
			}
		}
	}
	return out, true
}

func splitLabels(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// matches reports whether two series of a binary operation pair up: on the labels of on,
// or without it on all their labels.
func matches(a, b map[string]string, on []string) bool {
	if on == nil {
		return len(a) == len(b) && keysEqual(a, b)
	}
	for _, l := range on {
		if a[l] != b[l] {
			return false
		}
	}
	return true
}

func keysEqual(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// evalSum evaluates sum by (labels) (selector) over the gathered families: a histogram's
// _sum and _count, a counter's or a gauge's value. The selector's matchers are checked
// for their form only: the registry holds one run, and $variant selects every variant.
func evalSum(t *testing.T, mfs []*dto.MetricFamily, expr string) ([]promSeries, bool) {
	m := sumForm.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return nil, false
	}
	by, name := splitLabels(m[1]), m[2]
	for _, arg := range matcherArg.FindAllStringSubmatch(m[3], -1) {
		require.Contains(t, []string{"run", "variant"}, arg[1], "a distance panel filters on %s (in %q)", arg[1], expr)
	}
	family, field := name, ""
	for _, suffix := range []string{"_sum", "_count"} {
		if base, found := strings.CutSuffix(name, suffix); found && slices.ContainsFunc(mfs, func(f *dto.MetricFamily) bool { return f.GetName() == base }) {
			family, field = base, suffix
		}
	}
	groups := map[string]*promSeries{}
	var order []string
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range s.GetLabel() {
				if slices.Contains(by, lp.GetName()) {
					labels[lp.GetName()] = lp.GetValue()
				}
			}
			var v float64
			switch {
			case field == "_sum":
				v = s.GetHistogram().GetSampleSum()
			case field == "_count":
				v = float64(s.GetHistogram().GetSampleCount())
			case s.Counter != nil:
				v = s.GetCounter().GetValue()
			default:
				v = s.GetGauge().GetValue()
			}
			key := fmt.Sprint(labels)
			if g, ok := groups[key]; ok {
				g.value += v
				continue
			}
			groups[key] = &promSeries{labels, v}
			order = append(order, key)
		}
	}
	out := make([]promSeries, len(order))
	for i, k := range order {
		out[i] = *groups[k]
	}
	return out, true
}

// graphRunSpec is a graph network observed by the metrics: Dense tanh layers on a chain
// with long skips, or μPC's pre-activation residual network.
type graphRunSpec struct {
	name     string
	widths   []int
	residual bool
	skips    string
}

var dashboardGraphs = []graphRunSpec{
	{"chain", []int{6, 5, 4, 5, 3}, false, ""},
	{"residual-mupc", []int{6, 8, 8, 8, 8, 3}, true, ""},
	{"skips-0:2,1:3,1:4", []int{5, 5, 5, 5, 5, 3}, false, "0:2,1:3,1:4"},
	{"skips-1:5,4:9", []int{5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}, false, "1:5,4:9"},
	{"skips-1:5,3:8", []int{6, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}, false, "1:5,3:8"},
	{"residual-skips-0:3,1:4,3:6", []int{5, 5, 5, 5, 5, 5, 5, 4}, true, "0:3,1:4,3:6"},
}

// run learns batches on the spec's network under the variant, observed by m.
func (s graphRunSpec) run(t *testing.T, m *Metrics, v pcnet.Variant, batches int) *graph.Graph {
	t.Helper()
	skips, err := graph.ParseSkips(s.skips)
	require.NoError(t, err)
	shape := graph.Chain
	if s.residual {
		shape = graph.Residual
	}
	g, err := graph.New(s.widths, shape, skips)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 1))
	var maps []layer.Map[float64]
	if s.residual {
		pre, err := layer.NewPreActNet[float64](s.widths, layer.Tanh, layer.MuPC, true, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(pre)
	} else {
		dense, err := layer.NewMLP[float64](s.widths, layer.Tanh, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(dense)
	}
	spec := netSpec{variant: v, engine: pcnet.Parallel, steps: g.H() + 1, batch: 4}
	net, err := pcnet.NewGraph(context.Background(), g, maps, spec.config(m))
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	for b := range batches {
		x, labels := randomBatch(spec.batch, s.widths[0], s.widths[len(s.widths)-1], uint64(b))
		_, err := net.Learn(batchCtx(t), x, labels)
		require.NoError(t, err)
	}
	return g
}

// TestDashboardDistancePanelsOnGraphs: the dashboard's distance panels work for graph
// runs, whose distance label is eta_v of docs/design.md §11 (EtaFixed under FPA-PC): on
// chains, residual networks and long-skip graphs, under FPA-PC, standard PC and iPC, every
// panel's query, evaluated on the run's series, has one series per distance the rule
// gives the hidden nodes, and no other; the first non-zero step reads the distance
// itself (Theorem 1's diagonal), the convergence step is never below it (under FPA-PC
// with gamma 1 it is the mean longest path of the nodes at that distance, where §11 says
// their errors are final), and nothing is unreached at T = H + 1.
func TestDashboardDistancePanelsOnGraphs(t *testing.T) {
	d, _ := loadDashboard(t)
	for _, s := range dashboardGraphs {
		for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.Incremental} {
			t.Run(fmt.Sprintf("%s/%v", s.name, v), func(t *testing.T) {
				const batches = 3
				m, reg := newTestMetrics(t, 16)
				g := s.run(t, m, v, batches)
				mfs, err := reg.Gather()
				require.NoError(t, err)
				rule := g.Eta
				if v == pcnet.FixedPrediction {
					rule = g.EtaFixed
				}
				nodes := map[string][]int{} // distance -> hidden nodes
				for n := 1; n <= g.H(); n++ {
					d := strconv.Itoa(rule(n))
					nodes[d] = append(nodes[d], n)
				}
				checked := 0
				for _, p := range d.allPanels() {
					if !strings.Contains(strings.ToLower(p.Title), "distance") {
						continue
					}
					for _, tg := range p.Targets {
						res, ok := evalRatio(t, mfs, tg.Expr)
						require.True(t, ok, "panel %q: query %q is not of the distance panels' form", p.Title, tg.Expr)
						checkDistancePanel(t, p.Title, tg.Expr, res, nodes, g, v)
						checked++
					}
				}
				require.GreaterOrEqual(t, checked, 6, "distance panels' queries checked")
			})
		}
	}
}

// checkDistancePanel holds one distance panel query's result to the graph-distance rule.
func checkDistancePanel(t *testing.T, title, expr string, res []promSeries, nodes map[string][]int, g *graph.Graph, v pcnet.Variant) {
	var got []string
	for _, r := range res {
		d := r.labels["distance"]
		got = append(got, d)
		dist, err := strconv.Atoi(d)
		require.NoError(t, err)
		switch {
		case strings.Contains(expr, "first_nonzero"):
			require.Equal(t, float64(dist), r.value, "%s: distance %s", title, d)
		case strings.Contains(expr, "convergence") && math.IsNaN(r.value):
			// 0/0: no node at this distance converged within T (standard PC and iPC move
			// on), as on a chain; the panel shows no bar.
			require.NotEqual(t, pcnet.FixedPrediction, v, "%s: FPA-PC with gamma 1 converges at distance %s", title, d)
		case strings.Contains(expr, "convergence"):
			require.GreaterOrEqual(t, r.value, float64(dist), "%s: distance %s", title, d)
			if v == pcnet.FixedPrediction {
				var mean float64
				for _, n := range nodes[d] {
					mean += float64(g.LongestPath(n))
				}
				require.InDelta(t, mean/float64(len(nodes[d])), r.value, 1e-12, "%s: distance %s", title, d)
			}
		case strings.Contains(expr, "unreached"), strings.Contains(expr, "unconverged") && v == pcnet.FixedPrediction:
			require.Zero(t, r.value, "%s: distance %s", title, d)
		default:
			require.False(t, math.IsNaN(r.value), "%s: distance %s", title, d)
		}
	}
	want := make([]string, 0, len(nodes))
	for d := range nodes {
		want = append(want, d)
	}
	require.ElementsMatch(t, want, got, "%s: the distances of %q", title, expr)
}
