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

	"github.com/pcnet/pcnet/tensor"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
)

// complexityMethod is one way of computing a weight update.
type complexityMethod struct {
	name     string
	label    string
	alg      spec.Algorithm
	engine   pcnet.Engine
	schedule pcnet.Schedule
	gamma    float64
}

// complexityMethods: BP, and PC with T = H, the fewest steps after which Theorem 1 lets
// every layer's update be non-zero (and FPA-PC's equal BP's, at gamma = 1), under the
// dense schedule (every product at every step) and the event schedule (only the products
// whose result is not known exactly).
var complexityMethods = []complexityMethod{
	{name: "bp", label: "BP", alg: spec.BP},
	{name: "fpa-parallel", label: "FPA-PC, parallel, dense", alg: spec.FPA, engine: pcnet.Parallel, schedule: pcnet.Dense, gamma: 1},
	{name: "fpa-sequential", label: "FPA-PC, sequential, dense", alg: spec.FPA, engine: pcnet.Sequential, schedule: pcnet.Dense, gamma: 1},
	{name: "pc-parallel", label: "standard PC, parallel, dense", alg: spec.PC, engine: pcnet.Parallel, schedule: pcnet.Dense, gamma: 0.1},
	{name: "fpa-parallel-event", label: "FPA-PC, parallel, event", alg: spec.FPA, engine: pcnet.Parallel, schedule: pcnet.Event, gamma: 1},
	{name: "fpa-sequential-event", label: "FPA-PC, sequential, event", alg: spec.FPA, engine: pcnet.Sequential, schedule: pcnet.Event, gamma: 1},
	{name: "pc-parallel-event", label: "standard PC, parallel, event", alg: spec.PC, engine: pcnet.Parallel, schedule: pcnet.Event, gamma: 0.1},
}

// vjpsFormula is the products a PC update computes at T = H: H·T + H + 1 under the
// dense schedule; under the event schedule FPA-PC with gamma 1 computes backprop's
// 2H + 1, and standard PC skips the H(H-1)/2 input VJPs before the wavefront.
func (m complexityMethod) vjpsFormula(h int) int {
	dense := h*h + h + 1
	switch {
	case m.schedule == pcnet.Dense:
		return dense
	case m.alg == spec.FPA && m.gamma == 1:
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
func runComplexity(ctx context.Context, env *runEnv) (*complexityResults, error) {
	data, err := env.data()
	if err != nil {
		return nil, err
	}
	p := env.preset
	if data.Train.Len() < p.Batch {
		return nil, fmt.Errorf("complexity: the training set has %d examples, fewer than one batch of %d", data.Train.Len(), p.Batch)
	}
	x := data.Train.Rows(0, p.Batch, nil)
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
				s := fmt.Sprintf("%s %s", pt.method.name, render.Duration(pt.median))
				if pt.method.alg.IsPC() {
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
func timeUpdates(ctx context.Context, p Preset, seed uint64, h, procs int, x *tensor.Matrix[float64], labels []int) ([]*complexityPoint, error) {
	opt := optim.Config{Kind: optim.SGD, LR: p.LR, Momentum: p.Momentum}
	learners := make([]train.Learner[float64], len(complexityMethods))
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
		r := paperRun(m.alg, h, p.Width, p.Batch, opt)
		if m.alg.IsPC() {
			r.PC.Gamma, r.PC.Engine, r.PC.Schedule = m.gamma, m.engine, m.schedule
			if pt.vjps, err = countVJPs(ctx, layer.CloneAll[float64](layers), r.PCConfig(nil), x, labels); err != nil {
				return nil, err
			}
			pt.steps, pt.vjpsFormula = h, m.vjpsFormula(h)
		} else {
			// backprop has no observer: its count is by construction, H input VJPs (none
			// below layer 1) and H+1 weight VJPs, counted as pcnet's observer counts PC's.
			pt.vjps, pt.vjpsFormula = 2*h+1, 2*h+1
		}
		if learners[i], err = train.New(ctx, r, layer.AsMaps(layers), nil); err != nil {
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
		pt.median = time.Duration(render.Median(times[i]))
		pt.fastest = time.Duration(slices.Min(times[i]))
		pt.slowest = time.Duration(slices.Max(times[i]))
		pt.ratioOfMedians = float64(pt.median) / float64(pts[0].median)
		ratios := make([]float64, rounds)
		for r := range ratios {
			ratios[r] = times[i][r] / times[0][r]
		}
		pt.ratio = render.Median(ratios)
	}
	return pts, nil
}

// countVJPs runs one update with an observer and sums the VJPs its nodes report.
func countVJPs(ctx context.Context, layers []*layer.Dense[float64], cfg pcnet.Config, x *tensor.Matrix[float64], labels []int) (int, error) {
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

// complexityChecks sets Result 3 against the timings.
func complexityChecks(c *complexityResults) []check {
	bound := check{Claim: "Result 3 (eqs. 3.27-3.36): TIME{PC} >= TIME{BP}, for every PC method, H and GOMAXPROCS", OK: true, Timed: true}
	vjps := check{Claim: "VJPs per update (observed): PC computes H·T + H + 1 under the dense schedule; under the event schedule FPA-PC with gamma 1 computes BP's 2H + 1 and standard PC H·T + H + 1 - H(H-1)/2", OK: true}
	lowest, lowestAt := math.Inf(1), ""
	var bad []string
	for _, pt := range c.points {
		if pt.method.alg == spec.BP {
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

// complexityExperiment is Result 3: time per update, measured again on every run.
type complexityExperiment struct{}

func (complexityExperiment) name() string { return "complexity" }

func (complexityExperiment) describe() string {
	return "Result 3, eqs. 3.27-3.36: time and VJPs per weight update against BP"
}

func (complexityExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*complexityResults]{runComplexity, complexityChecks, writeComplexity, complexitySection}.run(ctx, env)
}
