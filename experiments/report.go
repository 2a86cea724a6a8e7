package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/safetensors"
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

// writeFileAtomic replaces path with data, so that an interrupted run never leaves a
// half-written output behind.
func writeFileAtomic(path string, data []byte) error {
	if err := safetensors.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// table is a CSV file under construction: a header and rows of already formatted cells.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// add appends a row, formatting each cell: floats with the shortest exact form (NaN as
// an empty cell), everything else with %v.
func (t *table) add(cells ...any) {
	if len(cells) != len(t.header) {
		panic(fmt.Sprintf("experiments: table row has %d cells for %d columns %v", len(cells), len(t.header), t.header))
	}
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = cell(c)
	}
	t.rows = append(t.rows, row)
}

func cell(c any) string {
	switch v := c.(type) {
	case float64:
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case num:
		return cell(float64(v))
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(c)
}

func (t *table) write(path string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(t.header); err != nil {
		return err
	}
	if err := w.WriteAll(t.rows); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// markdown builds a summary page.
type markdown struct{ strings.Builder }

func (m *markdown) p(format string, args ...any) {
	fmt.Fprintf(m, format, args...)
	m.WriteString("\n\n")
}

// table writes a markdown table; cells are formatted by the caller.
func (m *markdown) table(header []string, rows [][]string) {
	m.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		m.WriteString("---|")
	}
	m.WriteString("\n")
	for _, r := range rows {
		m.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	m.WriteString("\n")
}

func (m *markdown) image(alt, file string) { m.p("![%s](%s)", alt, file) }

func (m *markdown) checks(cs []check) {
	rows := make([][]string, len(cs))
	for i, c := range cs {
		verdict := "holds"
		if !c.OK {
			verdict = "**does not hold**"
		}
		rows[i] = []string{c.Claim, verdict, c.Detail}
	}
	m.table([]string{"claim", "measured", "detail"}, rows)
}

func (m *markdown) write(path string) error { return writeFileAtomic(path, []byte(m.String())) }

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

func f3(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// ensureDir creates dir and reports a failure by the folder's name.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder %s: %w", dir, err)
	}
	return nil
}

func join(dir, file string) string { return filepath.Join(dir, file) }

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

func (m *markdown) section(s section) {
	m.p("## %s", s.title)
	m.image(s.title, s.image)
	m.table([]string{"the paper", "pcnet measured"}, [][]string{{s.claim, strings.Join(s.measure, "<br>")}})
	if len(s.differs) > 0 {
		m.p("**Where they differ:**")
		for _, d := range s.differs {
			m.WriteString("- " + d + "\n")
		}
		m.WriteString("\n")
	}
	m.checks(s.checks)
	m.p("Details, tables and every plot: [%s.md](%s.md).", s.name, s.name)
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
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
