// Command report turns the output of pcnet's benchmarks into docs/bench.md: tables of
// medians, the PC/BP ratio beside the paper's bound, the speed-up of the parallel engine
// from 1 to N cores, the model of the parallel engine checked against the measurements
// and used to predict more cores, the Go/PyTorch ratio of a BP step, and plots.
// bench/run.sh runs it; see that script for the inputs.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/bench"
	"github.com/pcnet/pcnet/internal/render"
)

func main() {
	var (
		inputs = flag.String("in", "", "comma-separated files of `go test -bench` output")
		torch  = flag.String("torch", "", "JSON lines written by bench/torch/torch_mlp_bench.py (optional)")
		out    = flag.String("out", "docs/bench.md", "the markdown report to write")
		plots  = flag.String("plots", "docs/bench", "folder for the PNG plots (linked from -out)")
		header = flag.String("header", "", "a markdown file with the run's setting, copied to the top")
	)
	flag.Parse()
	if *inputs == "" {
		fmt.Fprintln(os.Stderr, "report: -in is required")
		os.Exit(2)
	}
	rs := results{}
	for _, f := range strings.Split(*inputs, ",") {
		if err := rs.readFile(f); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	var th []torchResult
	if *torch != "" {
		var err error
		if th, err = readTorch(*torch); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	if err := render.EnsureDir(*plots); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	var b render.Markdown
	if *header != "" {
		h, err := os.ReadFile(*header)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		b.Write(h)
		b.WriteString("\n")
	}
	rel, err := filepath.Rel(filepath.Dir(*out), *plots)
	if err != nil {
		rel = *plots
	}
	if err := write(&b, rs, th, *plots, rel); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := b.WriteFile(*out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// key names one benchmark at one GOMAXPROCS.
type key struct {
	name  string // without the -P suffix
	procs int
}

type sample struct {
	nsPerOp float64
	metrics map[string]float64
}

type results map[key][]sample

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.+)$`)

func (rs results) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return rs.read(f)
}

func (rs results) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		procs := 1
		if m[2] != "" {
			procs, _ = strconv.Atoi(m[2])
		}
		name := withSchedule(withoutF64Level(m[1]))
		fields := strings.Fields(m[4])
		s := sample{metrics: map[string]float64{}}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if fields[i+1] == "ns/op" {
				s.nsPerOp = v
			} else {
				s.metrics[fields[i+1]] = v
			}
		}
		k := key{name, procs}
		rs[k] = append(rs[k], s)
	}
	return sc.Err()
}

// withSchedule names a PC update benchmark of a run from before schedules existed, when
// every update was the dense schedule's, as today's run names it.
func withSchedule(name string) string {
	const prefix = "BenchmarkPCUpdate/"
	if !strings.HasPrefix(name, prefix) || strings.Contains(name, "/schedule=") {
		return name
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "engine=") {
			return strings.Join(append(parts[:i+1:i+1], append([]string{"schedule=dense"}, parts[i+1:]...)...), "/")
		}
	}
	return name
}

// median returns the median ns/op of a benchmark, NaN when it was not run.
func (rs results) median(name string, procs int) float64 {
	ss := rs[key{name, procs}]
	if len(ss) == 0 {
		return math.NaN()
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = s.nsPerOp
	}
	return render.Median(v)
}

// metric returns the median of a reported metric.
func (rs results) metric(name string, procs int, unit string) float64 {
	ss := rs[key{name, procs}]
	var v []float64
	for _, s := range ss {
		if x, ok := s.metrics[unit]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	return render.Median(v)
}

func (rs results) procs() []int { return rs.procsOf("") }

// procsOf lists the core counts at which benchmarks with a prefix ran.
func (rs results) procsOf(prefix string) []int {
	seen := map[int]bool{}
	for k := range rs {
		if strings.HasPrefix(k.name, prefix) {
			seen[k.procs] = true
		}
	}
	var p []int
	for n := range seen {
		p = append(p, n)
	}
	sort.Ints(p)
	return p
}

// values lists the distinct values of a name parameter among benchmarks with a prefix.
func (rs results) values(prefix, param string) []int {
	seen := map[int]bool{}
	for k := range rs {
		if !strings.HasPrefix(k.name, prefix) {
			continue
		}
		for _, part := range strings.Split(k.name, "/") {
			if v, ok := strings.CutPrefix(part, param+"="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					seen[n] = true
				}
			}
		}
	}
	var out []int
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// torchResult is one line of bench/torch/torch_mlp_bench.py's output.
type torchResult struct {
	L            int     `json:"L"`
	Width        int     `json:"width"`
	StepUS       float64 `json:"step_us"` // median over Repeats
	DType        string  `json:"dtype"`
	Threads      int     `json:"threads"`
	BgCPUs       float64 `json:"bg_cpus"`
	Repeats      int     `json:"repeats"`
	TorchVersion string  `json:"torch_version"`
}

func readTorch(path string) ([]torchResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []torchResult
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var t torchResult
		if err := json.Unmarshal([]byte(line), &t); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func bpName(h, w, batch int) string {
	return fmt.Sprintf("BenchmarkBPStep/H=%d/width=%d/batch=%d", h, w, batch)
}

func bpKernelName(kernel string, h, w int) string {
	return fmt.Sprintf("BenchmarkBPKernel/kernel=%s/H=%d/width=%d/batch=64", kernel, h, w)
}

func pcName(v, eng string, h, w, batch int) string {
	// The report's tables and the model are about the dense schedule, which computes
	// every product (the event schedule has a section of its own).
	return fmt.Sprintf("BenchmarkPCUpdate/variant=%s/engine=%s/schedule=dense/H=%d/width=%d/batch=%d", v, eng, h, w, batch)
}

func opName(op string, in, out, batch int) string {
	return fmt.Sprintf("BenchmarkLayerOp/op=%s/in=%d/out=%d/batch=%d", op, in, out, batch)
}

// model builds the model of an update from the layer-op medians measured at procs 1.
func model(rs results, variant string, h, w, batch int, handoff float64) (bench.Model, bool) {
	s := bench.Setting{Hidden: h, Width: w, Batch: batch}
	sizes := s.Sizes()
	m := bench.Model{Steps: h, Resend: variant != "fpa", Handoff: handoff}
	for l := 0; l+1 < len(sizes); l++ {
		c := bench.LayerCosts{
			Forward:   rs.median(opName("forward", sizes[l], sizes[l+1], batch), 1),
			InputVJP:  rs.median(opName("inputvjp", sizes[l], sizes[l+1], batch), 1),
			WeightVJP: rs.median(opName("weightvjp", sizes[l], sizes[l+1], batch), 1),
		}
		if math.IsNaN(c.Forward + c.InputVJP + c.WeightVJP) {
			return m, false
		}
		m.Layers = append(m.Layers, c)
	}
	return m, true
}
