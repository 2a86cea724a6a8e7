package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
)

// num is a float64 that survives JSON: NaN and the infinities, which encoding/json
// rejects, are written as null and read back as NaN.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (n *num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	*n = num(f)
	return nil
}

func nums(fs []float64) []num {
	out := make([]num, len(fs))
	for i, f := range fs {
		out[i] = num(f)
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return render.WriteFile(path, append(b, '\n'))
}

// writeChecks writes the table of claims against measurements.
func writeChecks(md *render.Markdown, cs []check) {
	rows := make([][]string, len(cs))
	for i, c := range cs {
		verdict := "holds"
		if !c.OK {
			verdict = "**does not hold**"
		}
		rows[i] = []string{c.Claim, verdict, c.Detail}
	}
	md.Table([]string{"claim", "measured", "detail"}, rows)
}

// check is one claim of the paper (or of the issue that asked for the experiment) set
// against what a run measured.
type check struct {
	Claim  string
	OK     bool
	Detail string
	// Timed marks a verdict that rests on wall-clock times: it reports the machine the
	// run had as much as the code, so the tests leave it to the report and the
	// benchmarks and check the counted work instead.
	Timed bool
}

// section is one experiment's part of README.md: its headline plot, the paper's claim
// and pcnet's measurement side by side, and where the two differ.
type section struct {
	name    string // the experiment, and its NAME.md
	title   string
	image   string
	claim   string
	checks  []check
	measure []string
	differs []string
}

// writeSection writes an experiment's section of README.md.
func writeSection(md *render.Markdown, s section) {
	md.P("## %s", s.title)
	md.Image(s.title, s.image)
	md.Table([]string{"the paper", "pcnet measured"}, [][]string{{s.claim, strings.Join(s.measure, "<br>")}})
	if len(s.differs) > 0 {
		md.P("**Where they differ:**")
		for _, d := range s.differs {
			md.WriteString("- " + d + "\n")
		}
		md.WriteString("\n")
	}
	writeChecks(md, s.checks)
	md.P("Details, tables and every plot: [%s.md](%s.md).", s.name, s.name)
}

func summaryOr(ok string, fails []string) string {
	if len(fails) == 0 {
		return ok
	}
	if len(fails) > 6 {
		fails = append(fails[:6], fmt.Sprintf("and %d more", len(fails)-6))
	}
	return strings.Join(fails, "; ")
}

func variantTitle(v pcnet.Variant) string {
	switch v {
	case pcnet.FixedPrediction:
		return "FPA-PC"
	case pcnet.Standard:
		return "standard PC"
	case pcnet.ZeroDivergence:
		return "Z-IL"
	case pcnet.Incremental:
		return "iPC"
	}
	return v.String()
}

// runLine describes the run for the summaries.
func (e *runEnv) runLine() string {
	preset := e.preset.Name
	if e.opts.Dataset == mnist.Fashion {
		preset += " on " + e.datasetName()
	}
	return fmt.Sprintf("Run: preset %s, seed %d, %s %s/%s, %d CPUs, GOMAXPROCS %d, %d workers; started %s, this file written %s later.",
		preset, e.opts.Seed, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		e.opts.Workers, e.started.Format("2006-01-02 15:04 MST"), time.Since(e.started).Round(time.Second))
}

// newPage starts a page of the run's folder: its title and the line that says which
// run wrote it.
func newPage(env *runEnv, title string) *render.Markdown {
	md := new(render.Markdown)
	md.P("%s", title)
	md.P("%s", env.runLine())
	return md
}

// writeIndex writes README.md, the page that sets every claim against its measurement,
// when the whole set ran.
func writeIndex(env *runEnv, name string, res *results) error {
	if name != "all" {
		return nil
	}
	md := newPage(env, "# The paper's claims, measured by pcnet")
	md.P("Zahid, Guo and Fountas (2023), *Predictive coding as a neuromorphic alternative to backpropagation: a critical " +
		"evaluation*, §3.4-3.5, reproduced on pcnet's runtime. Each experiment writes CSV files, PNG plots and a summary " +
		"(linked below); `pcnet experiment NAME` reproduces it. Finished grid points are cached in cache/, so an " +
		"interrupted run resumes where it stopped.")
	var rows [][]string
	for _, e := range experimentList {
		if _, err := os.Stat(env.path(e.name() + ".md")); err == nil {
			rows = append(rows, []string{fmt.Sprintf("[%s](%s.md)", e.name(), e.name()), e.describe()})
		}
	}
	md.Table([]string{"experiment", "what it reproduces"}, rows)
	if g := env.gridRes; g != nil {
		md.P("%s", g.indexNote())
	}
	for _, s := range res.sections {
		writeSection(md, s)
	}
	return md.WriteFile(env.path("README.md"))
}
