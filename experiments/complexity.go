package experiments

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/train"
)

// complexityMethod is one way of computing a weight update.
type complexityMethod struct {
	name     string
	label    string
	variant  pcnet.Variant // 0 for BP
	engine   pcnet.Engine
	schedule pcnet.Schedule
	gamma    float64
}

// complexityMethods: BP, and PC with T = H, the fewest steps after which Theorem 1 lets
// every layer's update be non-zero (and FPA-PC's equal BP's, at gamma = 1), under the
// dense schedule (every product at every step) and the event schedule (only the products
// whose result is not known exactly).
var complexityMethods = []complexityMethod{
	{name: "bp", label: "BP"},
	{name: "fpa-parallel", label: "FPA-PC, parallel, dense", variant: pcnet.FixedPrediction, engine: pcnet.Parallel, schedule: pcnet.Dense, gamma: 1},
	{name: "fpa-sequential", label: "FPA-PC, sequential, dense", variant: pcnet.FixedPrediction, engine: pcnet.Sequential, schedule: pcnet.Dense, gamma: 1},
	{name: "pc-parallel", label: "standard PC, parallel, dense", variant: pcnet.Standard, engine: pcnet.Parallel, schedule: pcnet.Dense, gamma: 0.1},
	{name: "fpa-parallel-event", label: "FPA-PC, parallel, event", variant: pcnet.FixedPrediction, engine: pcnet.Parallel, schedule: pcnet.Event, gamma: 1},
	{name: "fpa-sequential-event", label: "FPA-PC, sequential, event", variant: pcnet.FixedPrediction, engine: pcnet.Sequential, schedule: pcnet.Event, gamma: 1},
	{name: "pc-parallel-event", label: "standard PC, parallel, event", variant: pcnet.Standard, engine: pcnet.Parallel, schedule: pcnet.Event, gamma: 0.1},
}

// vjpsFormula is the products a PC update computes at T = H: H·T + H + 1 under the
// dense schedule; under the event schedule FPA-PC with gamma 1 computes backprop's
// 2H + 1, and standard PC skips the H(H-1)/2 input VJPs before the wavefront.
func (m complexityMethod) vjpsFormula(h int) int {
	dense := h*h + h + 1
	switch {
	case m.schedule == pcnet.Dense:
		return dense
	case m.variant == pcnet.FixedPrediction && m.gamma == 1:
		return 2*h + 1
	}
	return dense - h*(h-1)/2
}

// complexityPoint is one method's time per weight update at one H and GOMAXPROCS.
type complexityPoint struct {
	method            complexityMethod
	hidden, steps     int
	procs             int
	median, fastest   time.Duration
	slowest           time.Duration
	rounds            int
	vjps, vjpsFormula int
	// ratio is the median over rounds of the round's time over BP's in the same round:
	// under a changing load it is steadier than the ratio of the medians, which
	// ratioOfMedians keeps for reference.
	ratio          float64
	ratioOfMedians float64
}

type complexityResults struct {
	preset Preset
	points []*complexityPoint
}

func (c *complexityResults) get(method string, h, procs int) *complexityPoint {
	for _, p := range c.points {
		if p.method.name == method && p.hidden == h && p.procs == procs {
			return p
		}
	}
	return nil
}

// runComplexity times a weight update of every method, for every H at every GOMAXPROCS
// of the preset, on one MNIST batch. It sets GOMAXPROCS and restores it before returning.
func runComplexity(ctx context.Context, env *runEnv, data *mnist.Splits) (*complexityResults, error) {
	p := env.preset
	if data.Train.Len() < p.Batch {
		return nil, fmt.Errorf("complexity: the training set has %d examples, fewer than one batch of %d", data.Train.Len(), p.Batch)
	}
	x := data.Train.X.Slice(0, p.Batch, 0, data.Train.Dim()).(*mat.Dense)
	labels := data.Train.Labels[:p.Batch]
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	out := &complexityResults{preset: p}
	for _, procs := range p.ComplexityProcs {
		runtime.GOMAXPROCS(procs)
		for _, h := range p.ComplexityHidden {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			pts, err := timeUpdates(ctx, p, env.opts.Seed, h, procs, x, labels)
			if err != nil {
				return nil, fmt.Errorf("complexity H=%d GOMAXPROCS=%d: %w", h, procs, err)
			}
			out.points = append(out.points, pts...)
			var parts []string
			for _, pt := range pts {
				s := fmt.Sprintf("%s %s", pt.method.name, fmtDur(pt.median))
				if pt.method.variant != 0 {
					s += fmt.Sprintf(" (x%.2f)", pt.ratio)
				}
				parts = append(parts, s)
			}
			env.log.printf("complexity: GOMAXPROCS=%d H=%-2d %s", procs, h, strings.Join(parts, ", "))
		}
	}
	return out, nil
}

// timeUpdates times every method at one H. After a warm-up the methods take turns, one
// update each in a shuffled order, round after round, for at least ComplexityRounds rounds and about
// ComplexityBudget in all: a change in the machine's load then hits every method alike,
// where timing one method's block after another's would charge it to whichever ran
// during it. The reported time is the median over the rounds.
func timeUpdates(ctx context.Context, p Preset, seed uint64, h, procs int, x *mat.Dense, labels []int) ([]*complexityPoint, error) {
	opt := optim.Config{Kind: optim.SGD, LR: p.LR, Momentum: p.Momentum}
	learners := make([]train.Learner, len(complexityMethods))
	defer func() {
		for _, l := range learners {
			if l != nil {
				l.Close()
			}
		}
	}()
	pts := make([]*complexityPoint, len(complexityMethods))
	for i, m := range complexityMethods {
		layers, err := newMLP(h, p.Width, seed)
		if err != nil {
			return nil, err
		}
		pt := &complexityPoint{method: m, hidden: h, procs: procs}
		if m.variant == 0 {
			learners[i], err = train.NewBP(layers, layer.NLL{}, opt)
			// backprop has no observer: its count is by construction, H input VJPs (none
			// below layer 1) and H+1 weight VJPs, counted as pcnet's observer counts PC's.
			pt.vjps, pt.vjpsFormula = 2*h+1, 2*h+1
		} else {
			cfg := pcnet.Config{Variant: m.variant, Steps: h, Gamma: m.gamma, Engine: m.engine, Schedule: m.schedule, MaxBatch: p.Batch, Optimizer: opt}
			if pt.vjps, err = countVJPs(ctx, layer.CloneAll(layers), cfg, x, labels); err != nil {
				return nil, err
			}
			pt.steps, pt.vjpsFormula = h, m.vjpsFormula(h)
			learners[i], err = train.NewPC(ctx, layers, cfg)
		}
		if err != nil {
			return nil, err
		}
		pts[i] = pt
	}
	step := func(i int) (time.Duration, error) {
		t0 := time.Now()
		if _, err := learners[i].Step(ctx, x, labels); err != nil {
			return 0, fmt.Errorf("%s: %w", complexityMethods[i].name, err)
		}
		return time.Since(t0), nil
	}
	// Warm-up: the first updates allocate the buffers of this batch size.
	var round time.Duration
	for i := range learners {
		for range 3 {
			if _, err := step(i); err != nil {
				return nil, err
			}
		}
		d, err := step(i)
		if err != nil {
			return nil, err
		}
		round += d
	}
	rounds := max(p.ComplexityRounds, int(p.ComplexityBudget/max(round, time.Microsecond)))
	times := make([][]float64, len(learners))
	for i := range times {
		times[i] = make([]float64, rounds)
	}
	// A fresh order every round, so that no method always follows the same one (and, say,
	// runs while the parallel engine's goroutines wind down).
	rng := rand.New(rand.NewPCG(seed, uint64(h)<<8|uint64(procs)))
	for r := range rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, i := range rng.Perm(len(learners)) {
			d, err := step(i)
			if err != nil {
				return nil, err
			}
			times[i][r] = float64(d)
		}
	}
	for i, pt := range pts {
		pt.rounds = rounds
		pt.median = time.Duration(median(times[i]))
		pt.fastest = time.Duration(slices.Min(times[i]))
		pt.slowest = time.Duration(slices.Max(times[i]))
		pt.ratioOfMedians = float64(pt.median) / float64(pts[0].median)
		ratios := make([]float64, rounds)
		for r := range ratios {
			ratios[r] = times[i][r] / times[0][r]
		}
		pt.ratio = median(ratios)
	}
	return pts, nil
}

// countVJPs runs one update with an observer and sums the VJPs its nodes report.
func countVJPs(ctx context.Context, layers []*layer.Dense, cfg pcnet.Config, x *mat.Dense, labels []int) (int, error) {
	rec := &pcnet.Recorder{}
	cfg.Observer = rec
	net, err := pcnet.New(ctx, layers, cfg)
	if err != nil {
		return 0, err
	}
	defer net.Close()
	if _, err := net.Learn(ctx, x, labels); err != nil {
		return 0, err
	}
	_, computed := vjps(rec)
	return computed, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fµs", float64(d)/1e3)
}

// complexityChecks sets Result 3 against the timings.
func complexityChecks(c *complexityResults) []check {
	bound := check{Claim: "Result 3 (eqs. 3.27-3.36): TIME{PC} >= TIME{BP}, for every PC method, H and GOMAXPROCS", OK: true, Timed: true}
	vjps := check{Claim: "VJPs per update (observed): PC computes H·T + H + 1 under the dense schedule; under the event schedule FPA-PC with gamma 1 computes BP's 2H + 1 and standard PC H·T + H + 1 - H(H-1)/2", OK: true}
	lowest, lowestAt := math.Inf(1), ""
	var bad []string
	for _, pt := range c.points {
		if pt.method.variant == 0 {
			continue
		}
		if pt.ratio < lowest {
			lowest, lowestAt = pt.ratio, fmt.Sprintf("%s H=%d GOMAXPROCS=%d", pt.method.name, pt.hidden, pt.procs)
		}
		if !(pt.ratio >= 1) {
			bound.OK = false
		}
		if pt.vjps != pt.vjpsFormula {
			vjps.OK = false
			bad = append(bad, fmt.Sprintf("%s H=%d: %d observed, %d by the formula", pt.method.name, pt.hidden, pt.vjps, pt.vjpsFormula))
		}
	}
	bound.Detail = fmt.Sprintf("lowest PC/BP ratio (median over rounds): %.2f (%s)", lowest, lowestAt)
	vjps.Detail = summaryOr("the observer's count equals the formula at every H", bad)
	return []check{bound, vjps}
}

// writeComplexity writes the complexity experiment's files (Result 3).
func writeComplexity(env *runEnv, c *complexityResults) ([]check, error) {
	p := c.preset
	tab := newTable("method", "variant", "engine", "schedule", "gamma", "hidden", "steps", "gomaxprocs", "median_us", "min_us", "max_us",
		"rounds", "vjps_per_update", "vjps_formula", "ratio_to_bp", "ratio_of_medians")
	for _, pt := range c.points {
		variant, engine, schedule, gamma := "", "", "", math.NaN()
		if pt.method.variant != 0 {
			variant, engine, schedule, gamma = pt.method.variant.String(), pt.method.engine.String(), pt.method.schedule.String(), pt.method.gamma
		}
		us := func(d time.Duration) float64 { return math.Round(float64(d)/1e1) / 1e2 }
		tab.add(pt.method.name, variant, engine, schedule, gamma, pt.hidden, pt.steps, pt.procs, us(pt.median), us(pt.fastest), us(pt.slowest),
			pt.rounds, pt.vjps, pt.vjpsFormula, math.Round(pt.ratio*1000)/1000, math.Round(pt.ratioOfMedians*1000)/1000)
	}
	if err := tab.write(env.path("complexity.csv")); err != nil {
		return nil, err
	}
	hs := make([]float64, len(p.ComplexityHidden))
	for i, h := range p.ComplexityHidden {
		hs[i] = float64(h)
	}
	var timePlots, ratioPlots []*plot.Plot
	for _, procs := range p.ComplexityProcs {
		tp := newPlot(fmt.Sprintf("GOMAXPROCS = %d", procs), "hidden layers H", "wall time per weight update (ms)")
		rp := newPlot(fmt.Sprintf("GOMAXPROCS = %d", procs), "hidden layers H", "TIME{PC} / TIME{BP}")
		log2Axis(&tp.X, hs)
		log2Axis(&rp.X, hs)
		tp.Y.Scale = plot.LogScale{}
		tp.Y.Tick.Marker = logTicks{}
		rp.Y.Scale = plot.LogScale{}
		rp.Y.Tick.Marker = logTicks{}
		for i, m := range complexityMethods {
			ts := make([]float64, len(hs))
			rs := make([]float64, len(hs))
			for j, h := range p.ComplexityHidden {
				pt := c.get(m.name, h, procs)
				ts[j] = float64(pt.median) / 1e6
				rs[j] = pt.ratio
			}
			if m.variant == 0 {
				s := series{name: "BP: the bound TIME{PC} >= TIME{BP}", xs: log2s(hs), ys: ts, color: black, dashed: true, points: true}
				if err := s.add(tp); err != nil {
					return nil, err
				}
				if err := (series{name: "bound: ratio 1", xs: log2s([]float64{hs[0], hs[len(hs)-1]}), ys: []float64{1, 1}, color: black, dashed: true}).add(rp); err != nil {
					return nil, err
				}
				continue
			}
			// One colour per variant and engine; the event schedule dashed.
			col, dashed := seriesColor((i-1)%3), m.schedule == pcnet.Event
			if err := (series{name: m.label, xs: log2s(hs), ys: ts, color: col, dashed: dashed, points: true}).add(tp); err != nil {
				return nil, err
			}
			if err := (series{name: m.label, xs: log2s(hs), ys: rs, color: col, dashed: dashed, points: true}).add(rp); err != nil {
				return nil, err
			}
		}
		tp.Legend.Top, tp.Legend.Left = true, true
		rp.Legend.Top, rp.Legend.Left = true, true
		rp.Y.Min = math.Min(0.8, rp.Y.Min)
		timePlots = append(timePlots, tp)
		ratioPlots = append(ratioPlots, rp)
	}
	// One y range across the GOMAXPROCS panels, so that they compare at a glance.
	shareY(timePlots)
	shareY(ratioPlots)
	w := 5.5 * vg.Inch * vg.Length(len(p.ComplexityProcs))
	if err := saveTiles(env.path("complexity_time.png"), "Wall time per weight update (median); PC with T = H (FPA-PC gamma 1, standard PC gamma 0.1)", [][]*plot.Plot{timePlots}, w, 4.2*vg.Inch); err != nil {
		return nil, err
	}
	if err := saveTiles(env.path("complexity_ratio.png"), "PC's time per update over BP's (Result 3: at least 1)", [][]*plot.Plot{ratioPlots}, w, 4.2*vg.Inch); err != nil {
		return nil, err
	}
	vp := newPlot("VJPs per weight update (T = H)", "hidden layers H", "vector-Jacobian products")
	vp.Y.Scale = plot.LogScale{}
	log2Axis(&vp.X, hs)
	vp.Y.Tick.Marker = logTicks{}
	bpV, pcV, pathV := make([]float64, len(hs)), make([]float64, len(hs)), make([]float64, len(hs))
	pcEventV, stdEventV := make([]float64, len(hs)), make([]float64, len(hs))
	for j, h := range p.ComplexityHidden {
		bpV[j] = float64(c.get("bp", h, p.ComplexityProcs[0]).vjps)
		pcV[j] = float64(c.get("fpa-sequential", h, p.ComplexityProcs[0]).vjps)
		pcEventV[j] = float64(c.get("fpa-sequential-event", h, p.ComplexityProcs[0]).vjps)
		stdEventV[j] = float64(c.get("pc-parallel-event", h, p.ComplexityProcs[0]).vjps)
		// With every node in parallel, a step costs one VJP latency: T steps and the weight
		// VJP make T+1 on PC's critical path (eq. 3.29); BP's is its H input VJPs and the
		// last weight VJP, H+1. At T = H they are equal: the bound.
		pathV[j] = float64(h + 1)
	}
	for _, s := range []series{
		{name: "PC, dense schedule: H·T + H + 1 (observed)", xs: log2s(hs), ys: pcV, color: seriesColor(1), points: true},
		{name: "standard PC, event schedule (observed)", xs: log2s(hs), ys: stdEventV, color: seriesColor(2), points: true},
		{name: "FPA-PC gamma 1, event schedule (observed)", xs: log2s(hs), ys: pcEventV, color: seriesColor(0), points: true},
		{name: "BP: 2H + 1", xs: log2s(hs), ys: bpV, color: black, dashed: true},
		{name: "critical path, fully parallel: H + 1 (PC = BP)", xs: log2s(hs), ys: pathV, color: seriesColor(2), dashed: true},
	} {
		if err := s.add(vp); err != nil {
			return nil, err
		}
	}
	vp.Legend.Top, vp.Legend.Left = true, true
	if err := savePlot(env.path("complexity_vjps.png"), vp, 8*vg.Inch, 4*vg.Inch); err != nil {
		return nil, err
	}

	checks := complexityChecks(c)
	var md markdown
	md.p("# complexity: time per weight update against BP (Result 3)")
	md.p("%s", env.runLine())
	md.p("**The paper** (§3.4.2 and §3.5, eqs. 3.27-3.36, Result 3): FPA-PC and Z-IL have a time complexity at least " +
		"BP's, even if every inference step ran fully in parallel: by Theorem 1 inference needs at least H steps, each " +
		"as slow as the slowest VJP, so TIME{PC} >= forward + (H+1)·VJP, BP's critical path; in practice T > H and the bound is loose.")
	md.p("**Setting**: one MNIST batch of %d, the paper's MLPs at H in %v, PC with T = H. A weight update is one "+
		"train.Learner.Step (forward, inference, weight VJPs, SGD step). After a warm-up the methods take turns, in a fresh random order, one "+
		"update each, for at least %d rounds and about %s per H; the median over the rounds is reported, at "+
		"GOMAXPROCS %v (set with runtime.GOMAXPROCS for the measurement and restored after). The machine is shared "+
		"with other work, so absolute times are noisy; taking turns charges a change of load to every method alike, "+
		"and the ratio to BP is the median over rounds of the ratio within a round (complexity.csv also has the ratio of the medians). "+
		"VJPs per update come from the runtime's observer (NodeStats.VJPs, the products computed): an input VJP or a weight VJP counts one "+
		"each, so PC computes H·T + H + 1 under the dense schedule; BP computes 2H + 1 by construction (H input VJPs, H+1 weight VJPs; the "+
		"paper's H+1 counts a layer's two products as one). Under the event schedule (pcnet's default) a node computes only "+
		"when a message brings news and skips a product only where its result is known exactly (a zero cotangent, or the point "+
		"and cotangent of its last product), bit for bit the dense schedule's numbers: FPA-PC with gamma 1 then computes BP's 2H + 1, "+
		"and standard PC skips the H(H-1)/2 input VJPs before the wavefront.",
		p.Batch, p.ComplexityHidden, p.ComplexityRounds, p.ComplexityBudget, p.ComplexityProcs)
	md.image("time per update", "complexity_time.png")
	md.image("ratio to BP", "complexity_ratio.png")
	md.image("VJPs per update", "complexity_vjps.png")
	md.p("**Measured** (median time per update; PC's ratio to BP in parentheses):")
	header := []string{"GOMAXPROCS", "H", "VJPs BP / FPA-PC dense / FPA-PC event"}
	for _, m := range complexityMethods {
		header = append(header, m.name)
	}
	var rows [][]string
	for _, procs := range p.ComplexityProcs {
		for _, h := range p.ComplexityHidden {
			row := []string{fmt.Sprint(procs), fmt.Sprint(h), fmt.Sprintf("%d / %d / %d", c.get("bp", h, procs).vjps, c.get("fpa-sequential", h, procs).vjps, c.get("fpa-sequential-event", h, procs).vjps)}
			for _, m := range complexityMethods {
				pt := c.get(m.name, h, procs)
				cell := fmtDur(pt.median)
				if m.variant != 0 {
					cell += fmt.Sprintf(" (x%.2f)", pt.ratio)
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
	}
	md.table(header, rows)
	md.p("**Claims against measurements:**")
	md.checks(checks)
	if err := md.write(env.path("complexity.md")); err != nil {
		return nil, err
	}
	return checks, nil
}

func complexitySection(c *complexityResults, checks []check) section {
	p := c.preset
	s := section{
		name: "complexity", title: "complexity: time per weight update (Result 3)", image: "complexity_ratio.png", checks: checks,
		claim: "FPA-PC and Z-IL have a time complexity at least BP's even with every inference step fully parallel: " +
			"TIME{PC} >= TIME{BP} (eqs. 3.27-3.36), the bound close to tight only at T = H (step size 1).",
	}
	for _, procs := range p.ComplexityProcs {
		for _, m := range complexityMethods[1:] {
			var rs []float64
			for _, h := range p.ComplexityHidden {
				rs = append(rs, c.get(m.name, h, procs).ratio)
			}
			s.measure = append(s.measure, fmt.Sprintf("GOMAXPROCS %d, %s: PC/BP from %.2f (H=%d) to %.2f (H=%d)",
				procs, m.label, rs[0], p.ComplexityHidden[0], rs[len(rs)-1], p.ComplexityHidden[len(rs)-1]))
		}
	}
	s.differs = append(s.differs, fmt.Sprintf("The bound is for maximally parallel hardware, where an inference step costs "+
		"one VJP latency; here %s cores run H+2 node goroutines, so under the dense schedule PC's extra VJPs (H·T + H + 1 against BP's 2H + 1, "+
		"complexity_vjps.png) mostly add up instead of overlapping, and the measured ratio grows with H far above the "+
		"bound's 1. The event schedule computes only what is not known exactly: FPA-PC with gamma 1 then does BP's 2H + 1 "+
		"products and its ratio stays near 1 at every H, the bound met with equality by exact PC; no schedule goes below it, "+
		"since the products it keeps are BP's. Standard PC saves only the products before the wavefront.",
		fmt.Sprint(slices.Max(p.ComplexityProcs))))
	lowest := math.Inf(1)
	for _, pt := range c.points {
		if pt.method.variant != 0 {
			lowest = math.Min(lowest, pt.ratio)
		}
	}
	if lowest < 1 {
		s.differs = append(s.differs, fmt.Sprintf("The lowest measured ratio is %.2f, below the bound: a measurement on "+
			"a shared machine, see complexity.csv for the spread.", lowest))
	}
	return s
}

// complexityExperiment is Result 3: time per update, measured again on every run.
type complexityExperiment struct{}

func (complexityExperiment) name() string { return "complexity" }

func (complexityExperiment) describe() string {
	return "Result 3, eqs. 3.27-3.36: time and VJPs per weight update against BP"
}

func (complexityExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	data, err := env.data()
	if err != nil {
		return nil, err
	}
	c, err := runComplexity(ctx, env, data)
	if err != nil {
		return nil, err
	}
	cs, err := writeComplexity(env, c)
	if err != nil {
		return nil, err
	}
	return &report{checks: cs, section: complexitySection(c, cs), measured: c}, nil
}
