package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const dashboardPath = "../grafana/dashboards/pcnet.json"

// datasourceRef is the only datasource a panel, target or variable may name: the
// dashboard's own $datasource variable.
var datasourceRef = map[string]any{"type": "prometheus", "uid": "${datasource}"}

// The panels the issue asks for, by title.
var requiredPanels = []string{
	"First non-zero error step vs distance (Theorem 1)",
	"Convergence step vs distance",
	"VJPs per update: PC vs BP",
	"Compute vs wait time per layer",
	"Messages per second",
	"Work skipped",
	"Loss",
	"Accuracy",
	"Cosine to BP",
	"Link latency",
	"Energy at the first and last inference step",
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func loadDashboard(t testing.TB) (dashboard, []byte) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d), "%s is not a dashboard", dashboardPath)
	return d, raw
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dashboardExprs returns every PromQL expression of the dashboard's panels.
func dashboardExprs(t testing.TB) []string {
	d, _ := loadDashboard(t)
	var exprs []string
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// grafanaVars are Grafana's own variables the expressions may use, and the dashboard's;
// concreteExpr replaces each with a value a test Prometheus can evaluate: windows long
// enough to span every scrape of a short test, and every label value.
var grafanaVars = map[string]string{
	"$__rate_interval": "1m",
	"$__interval":      "5s",
	"$__range":         "1m",
	"$variant":         ".*",
	"$job":             "pcnet",
	"$run":             dashboardRun,
}

// dashboardRun is the run label of the test runs the dashboard's queries are tried on:
// a query that does not find it returns nothing.
const dashboardRun = "dashboard-test-1"

// seriesName matches the metric names in a PromQL expression.
var seriesName = regexp.MustCompile(`\b(pcnet|go|process)_[a-z_]+\b`)

var varPattern = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)

// concreteExpr substitutes grafanaVars in expr, and fails on any other variable.
func concreteExpr(t testing.TB, expr string) string {
	t.Helper()
	return varPattern.ReplaceAllStringFunc(expr, func(v string) string {
		name := "$" + strings.Trim(v, "${}")
		val, ok := grafanaVars[name]
		require.True(t, ok, "unknown variable %s in %q", v, expr)
		return val
	})
}

func TestDashboardModel(t *testing.T) {
	d, raw := loadDashboard(t)
	require.Equal(t, "pcnet-theorem1", d.UID, "a stable uid keeps links to the dashboard working")
	require.NotEmpty(t, d.Title)
	require.GreaterOrEqual(t, d.SchemaVersion, 36)

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "datasource" {
			require.Equal(t, "datasource", v.Type)
			require.Equal(t, "prometheus", v.Query)
		}
	}
	require.Equal(t, "datasource", vars["datasource"], "a datasource variable")
	require.Equal(t, "query", vars["variant"], "a variant variable")
	require.Equal(t, "query", vars["run"], "a run variable")

	// Every series of every query is filtered by the run, so that runs sharing one
	// Prometheus do not add up.
	for _, expr := range dashboardExprs(t) {
		for _, loc := range seriesName.FindAllStringIndex(expr, -1) {
			require.True(t, strings.HasPrefix(expr[loc[1]:], `{run=~"$run"`), "%s is not filtered by run in %q", expr[loc[0]:loc[1]], expr)
		}
	}

	// No datasource anywhere but through the variable: walk the raw JSON, so that no
	// field this test does not model can hide one.
	var tree any
	require.NoError(t, json.Unmarshal(raw, &tree))
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "datasource" {
					require.Equal(t, datasourceRef, c, "%s.datasource: name the datasource only through ${datasource}", path)
					continue
				}
				walk(path+"."+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"[]", c)
			}
		}
	}
	walk("dashboard", tree)

	titles := map[string]bool{}
	ids := map[int]bool{}
	var placed []panel
	for _, p := range d.allPanels() {
		require.False(t, ids[p.ID], "panel id %d is used twice", p.ID)
		ids[p.ID] = true
		titles[p.Title] = true
		if p.Type != "row" {
			require.Equal(t, datasourceRef, p.Datasource, "panel %q has no datasource", p.Title)
			require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			require.NotEmpty(t, strings.TrimSpace(tg.Expr), "panel %q, query %s", p.Title, tg.RefID)
			require.Equal(t, datasourceRef, tg.Datasource, "panel %q, query %s", p.Title, tg.RefID)
		}
		g := p.GridPos
		require.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.X+g.W <= 24, "panel %q: grid position %+v", p.Title, g)
		for _, q := range placed {
			h := q.GridPos
			overlap := g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H
			require.False(t, overlap, "panels %q and %q overlap", p.Title, q.Title)
		}
		placed = append(placed, p)
	}
	for _, want := range requiredPanels {
		require.True(t, titles[want], "panel %q is missing", want)
	}
}

// Every series the dashboard queries exists: a renamed metric breaks the test, not the
// dashboard in front of a user.
func TestDashboardQueriesKnownSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	require.NoError(t, err)
	netSpec{variant: pcnet.FixedPrediction, engine: pcnet.Sequential, sizes: []int{6, 5, 3}, steps: 1, batch: 2, seed: 31}.run(t, m, 1, true)
	require.NoError(t, m.SetLoss(SplitTrain, 1))
	require.NoError(t, m.SetAccuracy(SplitTrain, 1))
	require.NoError(t, m.AddSamples(1))
	require.NoError(t, m.SetCosine(pcnet.FixedPrediction, AllLayers, 1))
	require.NoError(t, m.SetNormRatio(pcnet.FixedPrediction, AllLayers, 1))
	require.NoError(t, m.AddLinkTraffic(channels.Traffic{Lower: 0, Dir: channels.Up, Messages: 1, WireBytes: 72}))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	known := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		known[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			known[n+suffix] = true
		}
	}
	series := seriesName
	seen := 0
	for _, expr := range dashboardExprs(t) {
		concreteExpr(t, expr) // only known variables
		for _, name := range series.FindAllString(expr, -1) {
			require.True(t, known[name], "the dashboard queries %s, which nothing exports (in %q)", name, expr)
			seen++
		}
	}
	require.Positive(t, seen)
	for _, name := range []string{"pcnet_error_first_nonzero_step_sum", "pcnet_error_convergence_step_count", "pcnet_vjps_total", "pcnet_network_hidden_layers", "pcnet_link_latency_seconds_bucket", "pcnet_link_wire_bytes_total",
		"pcnet_batch_energy", "pcnet_batch_energy_drop_per_step"} {
		require.True(t, slices.ContainsFunc(dashboardExprs(t), func(e string) bool { return strings.Contains(e, name) }), "no panel shows %s", name)
	}
}
