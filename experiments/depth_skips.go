package experiments

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// skipWidth is the hidden width of the long-skip networks: the paper's 64 (tanh), so that
// the wavefront of a chain with skips sits beside the wavefront experiment's chains.
const skipWidth = 64

// skipCase is a variant at a step size, with the rule that predicts its wavefront.
type skipCase struct {
	variant pcnet.Variant
	gamma   float64
}

// skipCases: standard PC, whose predictions move (graph.Eta), and FPA-PC at gamma 1,
// whose wave runs down the directed paths only (graph.EtaFixed).
var skipCases = []skipCase{{pcnet.Standard, 0.5}, {pcnet.FixedPrediction, 1}}

func (c skipCase) rule(g *graph.Graph, v int) int {
	if c.variant == pcnet.FixedPrediction {
		return g.EtaFixed(v)
	}
	return g.Eta(v)
}

// skipRun is one long-skip graph under one case on one dataset: per hidden node 1..H
// (index v-1), the first non-zero step of its error, min and max over the batches, the
// rule's prediction and the chain's distance H+1-v.
type skipRun struct {
	skipCase
	graph              skipGraph
	dataset            string
	steps, batches     int
	firstMin, firstMax []int
	rule               []int
}

// exact reports whether every node's error first moved at the rule's step on every batch.
func (r *skipRun) exact() bool {
	for i := range r.rule {
		if r.firstMin[i] != r.rule[i] || r.firstMax[i] != r.rule[i] {
			return false
		}
	}
	return true
}

// runSkips runs inference (no learning) from fresh weights on the first batches of the
// training sets of MNIST and Fashion-MNIST (when its files are installed) for every
// long-skip graph and case.
func runSkips(ctx context.Context, env *runEnv) ([]*skipRun, error) {
	p := env.preset.Depth
	var out []*skipRun
	for _, ds := range mnist.DatasetNames() {
		splits, err := mnist.LoadDataset(ds, "")
		if errors.Is(err, fs.ErrNotExist) && ds != mnist.MNIST {
			env.log.printf("depth: long skips: %s not installed (%v); measured on MNIST only", ds, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("depth: long skips: %w", err)
		}
		for _, sg := range p.SkipGraphs {
			for _, c := range skipCases {
				r, err := skipOne(ctx, splits.Train, env.opts.Seed, p, sg, c, env.opts.Schedule)
				if err != nil {
					return nil, fmt.Errorf("depth: long skips %s %s: %w", sg.label(), c.variant, err)
				}
				r.dataset = ds
				out = append(out, r)
			}
		}
		env.log.printf("depth: long skips on %s done (%d graphs x %d cases)", ds, len(p.SkipGraphs), len(skipCases))
	}
	return out, nil
}

func skipOne(ctx context.Context, d *mnist.Dataset, seed uint64, p DepthPreset, sg skipGraph, c skipCase, sched pcnet.Schedule) (*skipRun, error) {
	g, err := sg.graph(skipWidth)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, uint64(sg.Hidden)))
	dense, err := layer.NewMLP[float64](g.Widths(), layer.Tanh, rng)
	if err != nil {
		return nil, err
	}
	maps := layer.AsMaps(dense)
	h := sg.Hidden
	rec := &pcnet.Recorder{}
	net, err := pcnet.NewGraph(ctx, g, maps, pcnet.Config{
		Variant: c.variant, Steps: 2 * h, Gamma: c.gamma, Engine: pcnet.Sequential, Schedule: sched, MaxBatch: p.Batch, Observer: rec,
	})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	r := &skipRun{skipCase: c, graph: sg, steps: 2 * h, batches: min(p.SkipBatches, d.Len()/p.Batch)}
	if r.batches < 1 {
		return nil, fmt.Errorf("%d examples, fewer than one batch of %d", d.Len(), p.Batch)
	}
	r.firstMin, r.firstMax, r.rule = filled(h, graph.Never), filled(h, graph.Never), make([]int, h)
	for v := 1; v <= h; v++ {
		r.rule[v-1] = c.rule(g, v)
	}
	var x *tensor.Matrix[float64]
	for b := range r.batches {
		x = d.Rows(b*p.Batch, (b+1)*p.Batch, x)
		if _, err := net.Infer(ctx, x, d.Labels[b*p.Batch:(b+1)*p.Batch]); err != nil {
			return nil, err
		}
		for _, n := range rec.Nodes() {
			if n.Node < 1 || n.Node > h {
				continue
			}
			first, _ := arrival(n.Steps, convergenceTol)
			i := n.Node - 1
			if b == 0 || first < r.firstMin[i] {
				r.firstMin[i] = first
			}
			if b == 0 || first > r.firstMax[i] {
				r.firstMax[i] = first
			}
		}
	}
	return r, nil
}

// skipChecks sets the graph-distance rule against the long-skip wavefronts: exactly, for
// every node of every graph, case and dataset; and that the skips move the wavefront
// (some node's first step differs from its chain distance).
func skipChecks(runs []*skipRun) []check {
	exact := check{Claim: "graph-distance rule, identity: on chains and long-skip graphs every hidden node's error first moves " +
		"at graph.Eta (standard PC, gamma 0.5) or graph.EtaFixed (FPA-PC, gamma 1), every batch", OK: len(runs) > 0}
	moved := check{Claim: "long skips bring the wavefront closer: on every graph with skips some node's error moves before its chain distance H+1-l", OK: true}
	var fails, same []string
	graphs := map[string]bool{}
	for _, r := range runs {
		name := fmt.Sprintf("%s %s gamma=%g on %s", r.graph.label(), variantTitle(r.variant), r.gamma, r.dataset)
		graphs[r.graph.label()] = true
		if !r.exact() {
			exact.OK = false
			fails = append(fails, fmt.Sprintf("%s: %s against the rule's %s", name, render.Ints(r.firstMin), render.Ints(r.rule)))
		}
		if r.graph.Skips == "" {
			continue
		}
		earlier := false
		for i, f := range r.firstMax {
			if f != graph.Never && f < r.graph.Hidden-i {
				earlier = true
			}
		}
		if !earlier {
			moved.OK = false
			same = append(same, name)
		}
	}
	exact.Detail = summaryOr(fmt.Sprintf("%d graphs, %d runs: the rule exactly in every one", len(graphs), len(runs)), fails)
	moved.Detail = summaryOr("every graph with skips", same)
	return []check{exact, moved}
}
