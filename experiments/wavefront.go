package experiments

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/pcnet/pcnet/tensor"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
)

// convergenceTol is the relative tolerance of "converged", as in package metrics: step t
// moved a node's error when max|e(t) - e(t-1)| > tol · max|e(t)|.
const convergenceTol = 1e-6

// wavefrontCase is one variant at one step size.
type wavefrontCase struct {
	variant pcnet.Variant
	gamma   float64
}

// wavefrontCases: FPA-PC and standard PC at three step sizes, Z-IL at the only one it has.
var wavefrontCases = []wavefrontCase{
	{pcnet.FixedPrediction, 1}, {pcnet.FixedPrediction, 0.5}, {pcnet.FixedPrediction, 0.1},
	{pcnet.Standard, 1}, {pcnet.Standard, 0.5}, {pcnet.Standard, 0.1},
	{pcnet.ZeroDivergence, 1},
}

// vjps sums the products of every node in the last batch a recorder saw: those the
// dense schedule computes (H·T + H + 1), and those the network's schedule computed.
func vjps(rec *pcnet.Recorder) (dense, computed int) {
	for _, n := range rec.Nodes() {
		dense += n.End.VJPs + n.End.SkippedVJPs
		computed += n.End.VJPs
	}
	return dense, computed
}

// arrival returns the first step at which a node's error is non-zero (-1 if it never is)
// and the step after which it stayed within tol of where it ended: the last step that
// moved it, -1 if step T still did (not converged) or it never moved.
func arrival(steps []pcnet.StepStats, tol float64) (first, converged int) {
	first, last := -1, -1
	for _, s := range steps {
		if first < 0 && s.ErrorMaxAbs != 0 {
			first = s.Step
		}
		if s.ChangeMaxAbs > tol*s.ErrorMaxAbs {
			last = s.Step
		}
	}
	if len(steps) == 0 || last == steps[len(steps)-1].Step {
		return first, -1
	}
	return first, last
}

// wavefrontRun is one case at one H.
type wavefrontRun struct {
	wavefrontCase
	hidden, steps, batches int
	// By distance d = 1..H (index d-1), over the batches.
	firstMin, firstMax []int // -1 when never non-zero
	convMin, convMax   []int // over the batches that converged; -1 when none did
	unconverged        []int
	// The first batch's max|e_l(t) - e_l(t-1)| and max|e_l(t)|, [d-1][t].
	change, size [][]float64
	vjps         int // per inference, from the observer: the dense schedule's count
	vjpsComputed int // what the run's schedule computed of them
}

func (r *wavefrontRun) identity() bool {
	for d := 1; d <= r.hidden; d++ {
		if r.firstMin[d-1] != d || r.firstMax[d-1] != d {
			return false
		}
	}
	return true
}

type wavefrontResults struct {
	preset Preset
	runs   []*wavefrontRun // by H, then case
}

func (w *wavefrontResults) run(h int, c wavefrontCase) *wavefrontRun {
	for _, r := range w.runs {
		if r.hidden == h && r.wavefrontCase == c {
			return r
		}
	}
	return nil
}

// runWavefront runs inference (no learning) on the first batches of the training set
// with freshly initialised weights, for every case and H, and records every hidden
// node's error at every step.
func runWavefront(ctx context.Context, env *runEnv) (*wavefrontResults, error) {
	data, err := env.data()
	if err != nil {
		return nil, err
	}
	p := env.preset
	hs := p.WavefrontHidden
	if !slices.Contains(hs, p.WavefrontHeatHidden) {
		hs = append(hs, p.WavefrontHeatHidden)
	}
	out := &wavefrontResults{preset: p}
	batches := min(p.WavefrontBatches, data.Train.Len()/p.Batch)
	if batches < 1 {
		return nil, fmt.Errorf("wavefront: the training set has %d examples, fewer than one batch of %d", data.Train.Len(), p.Batch)
	}
	for _, h := range hs {
		for _, c := range wavefrontCases {
			r, err := wavefrontOne(ctx, data, env.opts.Seed, p, h, c, batches, env.opts.Schedule)
			if err != nil {
				return nil, fmt.Errorf("wavefront %s gamma=%g H=%d: %w", c.variant, c.gamma, h, err)
			}
			out.runs = append(out.runs, r)
		}
		env.log.printf("wavefront: H=%d done (%d variants x %d batches, T=%d)", h, len(wavefrontCases), batches, p.WavefrontStepsPerLayer*h)
	}
	return out, nil
}

func wavefrontOne(ctx context.Context, data *mnist.Splits, seed uint64, p Preset, h int, c wavefrontCase, batches int, sched pcnet.Schedule) (*wavefrontRun, error) {
	layers, err := newMLP(h, p.Width, seed)
	if err != nil {
		return nil, err
	}
	T := p.WavefrontStepsPerLayer * h
	rec := &pcnet.Recorder{}
	net, err := pcnet.New(ctx, layers, pcnet.Config{
		Variant: c.variant, Steps: T, Gamma: c.gamma, Engine: pcnet.Sequential, Schedule: sched, MaxBatch: p.Batch, Observer: rec,
	})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	r := &wavefrontRun{wavefrontCase: c, hidden: h, steps: T, batches: batches}
	r.firstMin, r.firstMax = filled(h, math.MaxInt), filled(h, -1)
	r.convMin, r.convMax = filled(h, -1), filled(h, -1)
	r.unconverged = make([]int, h)
	var x *tensor.Matrix[float64] // one buffer for every batch
	for b := range batches {
		x = data.Train.Rows(b*p.Batch, (b+1)*p.Batch, x)
		labels := data.Train.Labels[b*p.Batch : (b+1)*p.Batch]
		if _, err := net.Infer(ctx, x, labels); err != nil {
			return nil, err
		}
		r.vjps, r.vjpsComputed = vjps(rec)
		for _, n := range rec.Nodes() {
			if n.Node < 1 || n.Node > h {
				continue
			}
			d := h + 1 - n.Node
			first, conv := arrival(n.Steps, convergenceTol)
			if first < 0 {
				first = -1
			}
			r.firstMin[d-1] = min(r.firstMin[d-1], first)
			r.firstMax[d-1] = max(r.firstMax[d-1], first)
			if conv < 0 {
				r.unconverged[d-1]++
			} else {
				if r.convMin[d-1] < 0 || conv < r.convMin[d-1] {
					r.convMin[d-1] = conv
				}
				r.convMax[d-1] = max(r.convMax[d-1], conv)
			}
			if b == 0 {
				if r.change == nil {
					r.change, r.size = make([][]float64, h), make([][]float64, h)
				}
				for _, s := range n.Steps {
					r.change[d-1] = append(r.change[d-1], s.ChangeMaxAbs)
					r.size[d-1] = append(r.size[d-1], s.ErrorMaxAbs)
				}
			}
		}
	}
	return r, nil
}

func filled(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// wavefrontChecks sets Theorem 1 and Corollary 1 against the runs. Theorem 1 is checked
// twice: as the bound (never non-zero before d), which floating point cannot break, and
// as the identity (first non-zero exactly at d), which it can: a variant that integrates
// x_l rounds away an arriving error smaller than half an ulp of x_l (docs/design.md §6).
func wavefrontChecks(w *wavefrontResults) []check {
	bound := check{Claim: "Theorem 1, bound: no node's error is non-zero before step t = d (every variant, step size, H and batch)", OK: true}
	exact := check{Claim: "Theorem 1, identity: the error of the node at distance d first becomes non-zero at exactly t = d", OK: true}
	cor := check{Claim: "Corollary 1: no node's error converges before step d", OK: true}
	fpa := check{Claim: "FPA-PC with gamma = 1 converges at exactly t = d (Rosenbaum 2022)", OK: true}
	var boundFails, exactFails, corFails, fpaFails []string
	for _, r := range w.runs {
		name := fmt.Sprintf("%s gamma=%g H=%d", r.variant, r.gamma, r.hidden)
		if !r.identity() {
			exact.OK = false
			exactFails = append(exactFails, fmt.Sprintf("%s: first non-zero steps %s for d = 1..%d", name, render.Ints(r.firstMin), r.hidden))
		}
		for d := 1; d <= r.hidden; d++ {
			if f := r.firstMin[d-1]; f >= 0 && f < d {
				bound.OK = false
				boundFails = append(boundFails, fmt.Sprintf("%s d=%d at t=%d", name, d, f))
			}
			if c := r.convMin[d-1]; c >= 0 && c < d {
				cor.OK = false
				corFails = append(corFails, fmt.Sprintf("%s d=%d at t=%d", name, d, c))
			}
			if r.variant == pcnet.FixedPrediction && r.gamma == 1 && (r.convMin[d-1] != d || r.convMax[d-1] != d) {
				fpa.OK = false
				fpaFails = append(fpaFails, fmt.Sprintf("%s d=%d: t=%d..%d", name, d, r.convMin[d-1], r.convMax[d-1]))
			}
		}
	}
	summary := fmt.Sprintf("%d runs (variant x step size x H), %d batches each", len(w.runs), w.preset.WavefrontBatches)
	bound.Detail = summaryOr(summary+": none early", boundFails)
	exact.Detail = summaryOr(summary+": the identity in every one", exactFails)
	cor.Detail = summaryOr(summary+": none early", corFails)
	fpa.Detail = summaryOr("every distance, every H", fpaFails)
	return []check{bound, exact, cor, fpa}
}

// wavefrontExperiment is Theorem 1, measured again on every run.
type wavefrontExperiment struct{}

func (wavefrontExperiment) name() string { return "wavefront" }

func (wavefrontExperiment) describe() string {
	return "Theorem 1 and Corollary 1: errors arrive at distance d at step d"
}

func (wavefrontExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*wavefrontResults]{runWavefront, wavefrontChecks, writeWavefront, wavefrontSection}.run(ctx, env)
}
