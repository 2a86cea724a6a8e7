package pcnet

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// The helpers here run a network on a list of batches and keep everything it shows from
// outside, so that two runs that ought to be the same computation (two engines, a
// continued and a fresh network, two schedules) can be compared bit for bit.

// testBatch is one batch of a recorded run.
type testBatch struct {
	x      *tensor.Matrix[float64]
	labels []int
}

// randomBatches returns one batch of each size, every one with data of its own: inputs
// uniform in [0, 1) of width in, labels uniform in [0, classes).
func randomBatches(rng *rand.Rand, in, classes int, sizes ...int) []testBatch {
	var out []testBatch
	for _, b := range sizes {
		x := tensor.New[float64](b, in, nil)
		for i := range x.Data {
			x.Data[i] = rng.Float64()
		}
		labels := make([]int, b)
		for i := range labels {
			labels[i] = rng.IntN(classes)
		}
		out = append(out, testBatch{x, labels})
	}
	return out
}

// netState is what a network carries from one batch to the next, and what a checkpoint
// keeps: the weights and the optimiser states.
type netState struct {
	layers []*layer.Dense[float64]
	opt    [][2]optState // by layer: weight, bias; nil without an optimiser
}

type optState struct {
	steps int
	bufs  map[string][]float64
}

// stateOf copies a network's state.
func stateOf(net *Network[float64]) netState {
	s := netState{layers: layer.CloneAll[float64](net.Layers())}
	if net.Config().Optimizer.Kind == 0 {
		return s
	}
	for l := range s.layers {
		var o [2]optState
		for i, st := range net.Optimizers(l) {
			o[i] = optState{steps: st.Steps(), bufs: st.Buffers()}
		}
		s.opt = append(s.opt, o)
	}
	return s
}

// newNetwork builds a network with cfg on a copy of the state.
func (s netState) newNetwork(t *testing.T, cfg Config) *Network[float64] {
	t.Helper()
	net, err := New(context.Background(), layer.CloneAll[float64](s.layers), cfg)
	require.NoError(t, err)
	for l, o := range s.opt {
		for i, st := range net.Optimizers(l) {
			require.NoError(t, st.Restore(o[i].steps, o[i].bufs))
		}
	}
	return net
}

// recording says how recordRun drives the network.
type recording struct {
	learn   bool // Learn (weights updated) rather than Infer
	observe bool // with an Observer that records every statistic
}

// batchRecord is everything one batch of a run shows: the loss, the updates, the state
// after the batch, and (observed) every statistic the observer was given.
type batchRecord struct {
	loss    float64
	updates []*layer.Grad[float64]
	after   netState
	steps   [][]StepStats // by node 0..H+1 (only hidden nodes report steps)
	ends    []NodeStats   // by node, with the clock fields zeroed
	batches []BatchStats  // what Observer.Batch was given (once per batch)
}

// recordRun runs the batches in order through one network built with cfg on a copy of
// from, and records each batch. cfg.Observer must be nil: rec.observe installs one.
func recordRun(t *testing.T, cfg Config, from netState, batches []testBatch, rec recording) []batchRecord {
	t.Helper()
	require.Nil(t, cfg.Observer, "recordRun installs its own observer")
	var obs *Recorder
	if rec.observe {
		obs = &Recorder{}
		cfg.Observer = obs
	}
	net := from.newNetwork(t, cfg)
	defer func() { require.NoError(t, net.Close()) }()
	return recordOn(context.Background(), t, net, obs, batches, rec.learn)
}

// recordOn runs the batches in order through net under ctx, whose observer is obs (nil:
// none), and records each batch.
func recordOn(ctx context.Context, t *testing.T, net *Network[float64], obs *Recorder, batches []testBatch, learn bool) []batchRecord {
	t.Helper()
	var out []batchRecord
	for _, b := range batches {
		run := net.Infer
		if learn {
			run = net.Learn
		}
		var before int
		if obs != nil {
			before = obs.Batches()
		}
		loss, err := run(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		r := batchRecord{loss: loss, after: stateOf(net)}
		for l, g := range net.Updates() {
			c := layer.NewGrad(net.Layers()[l])
			c.CopyFrom(g)
			r.updates = append(r.updates, c)
		}
		if obs != nil {
			// Every node has finished the batch, so the recorder is this goroutine's.
			require.Equal(t, 1, obs.Batches()-before, "Observer.Batch calls in one batch")
			r.steps, r.ends, r.batches = observed(obs)
			require.Len(t, r.steps[1], net.Config().Steps+1, "steps node 1 reported")
		}
		out = append(out, r)
	}
	return out
}

// observed returns what a recorder holds of the last batch, for a batchRecord: every
// node's steps and totals by node, and the batch's stats. Clocks differ from run to run
// (and the sequential engine books the whole batch on the output node), so they are
// left out; everything else is a count that must match.
func observed(obs *Recorder) (steps [][]StepStats, ends []NodeStats, batches []BatchStats) {
	for _, n := range obs.Nodes() {
		n.End.Compute, n.End.Wait = 0, 0
		steps, ends = append(steps, n.Steps), append(ends, n.End)
	}
	return steps, ends, []BatchStats{obs.Last()}
}

// withoutWork returns the records with each node's counts of work and traffic reduced
// to what every schedule shares: the products computed and skipped added up, the
// messages of every payload added up (as full ones), and no bytes.
func withoutWork(recs []batchRecord) []batchRecord {
	out := slices.Clone(recs)
	for i := range out {
		out[i].ends = slices.Clone(out[i].ends)
		for l, e := range out[i].ends {
			e.VJPs, e.SkippedVJPs = e.VJPs+e.SkippedVJPs, 0
			e.Up = Traffic{Messages: [channels.NumPayloads]int{e.Up.Total()}}
			e.Down = Traffic{Messages: [channels.NumPayloads]int{e.Down.Total()}}
			out[i].ends[l] = e
		}
	}
	return out
}

// withoutObserver returns the records without what only an observer sees.
func withoutObserver(recs []batchRecord) []batchRecord {
	out := slices.Clone(recs)
	for i := range out {
		out[i].steps, out[i].ends, out[i].batches = nil, nil, nil
	}
	return out
}

// namedValues is one named group of a record's values, compared element by element.
type namedValues struct {
	name string
	vals []float64
}

// values lists everything in the record as named groups, in a fixed order. Counts are
// exact in a float64.
func (r batchRecord) values() []namedValues {
	out := []namedValues{{"loss", []float64{r.loss}}}
	for l, g := range r.updates {
		out = append(out, namedValues{fmt.Sprintf("update W_%d", l), g.Params()[0]}, namedValues{fmt.Sprintf("update b_%d", l), g.Params()[1]})
	}
	for l, d := range r.after.layers {
		out = append(out, namedValues{fmt.Sprintf("W_%d after", l), d.W.Data}, namedValues{fmt.Sprintf("b_%d after", l), d.B})
	}
	for l, o := range r.after.opt {
		for i, st := range o {
			what := fmt.Sprintf("optimiser of %s_%d after", [2]string{"W", "b"}[i], l)
			out = append(out, namedValues{what + ": steps", []float64{float64(st.steps)}})
			for _, name := range slices.Sorted(maps.Keys(st.bufs)) {
				out = append(out, namedValues{what + ": " + name, st.bufs[name]})
			}
		}
	}
	for l, steps := range r.steps {
		var step, size, change, energy []float64
		for _, s := range steps {
			step, size, change = append(step, float64(s.Step)), append(size, s.ErrorMaxAbs), append(change, s.ChangeMaxAbs)
			energy = append(energy, s.Energy)
		}
		out = append(out, namedValues{fmt.Sprintf("node %d StepStats.Step", l), step},
			namedValues{fmt.Sprintf("node %d StepStats.ErrorMaxAbs", l), size},
			namedValues{fmt.Sprintf("node %d StepStats.ChangeMaxAbs", l), change},
			namedValues{fmt.Sprintf("node %d StepStats.Energy", l), energy})
	}
	for l, e := range r.ends {
		for _, f := range []struct {
			name string
			v    int
		}{{"Steps", e.Steps}, {"VJPs", e.VJPs}, {"SkippedVJPs", e.SkippedVJPs}, {"Up.Bytes", e.Up.Bytes}, {"Down.Bytes", e.Down.Bytes}} {
			out = append(out, namedValues{fmt.Sprintf("node %d NodeStats.%s", l, f.name), []float64{float64(f.v)}})
		}
		for p, n := range e.Up.Messages {
			out = append(out, namedValues{fmt.Sprintf("node %d NodeStats.Up.Messages[%v]", l, channels.Payload(p)), []float64{float64(n)}})
		}
		for p, n := range e.Down.Messages {
			out = append(out, namedValues{fmt.Sprintf("node %d NodeStats.Down.Messages[%v]", l, channels.Payload(p)), []float64{float64(n)}})
		}
	}
	for i, b := range r.batches {
		learned := 0.0
		if b.Learned {
			learned = 1
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"Variant", float64(b.Variant)}, {"Hidden", float64(b.Hidden)}, {"Steps", float64(b.Steps)}, {"Batch", float64(b.Batch)}, {"Loss", b.Loss}, {"Learned", learned},
			{"EnergyFirst", b.EnergyFirst}, {"EnergyLast", b.EnergyLast}} {
			out = append(out, namedValues{fmt.Sprintf("call %d of Observer.Batch: BatchStats.%s", i, f.name), []float64{f.v}})
		}
	}
	return out
}

// requireSameBits fails unless the two runs recorded the same values bit for bit (so -0
// differs from +0 and NaN payloads count), naming the first value that differs. wantName
// and gotName say what the runs are.
func requireSameBits(t *testing.T, wantName string, want []batchRecord, gotName string, got []batchRecord) {
	t.Helper()
	require.Len(t, got, len(want), "batches recorded: %s %d, %s %d", wantName, len(want), gotName, len(got))
	for b := range want {
		requireSameBatch(t, b, wantName, want[b], gotName, got[b])
	}
}

// requireSameBatch is requireSameBits for batch b of two runs.
func requireSameBatch(t *testing.T, b int, wantName string, want batchRecord, gotName string, got batchRecord) {
	t.Helper()
	wv, gv := want.values(), got.values()
	for i := range min(len(wv), len(gv)) {
		w, g := wv[i], gv[i]
		if w.name != g.name || len(w.vals) != len(g.vals) {
			t.Fatalf("batch %d: %s has %s (%d values) where %s has %s (%d values)", b, wantName, w.name, len(w.vals), gotName, g.name, len(g.vals))
		}
		for j := range w.vals {
			if math.Float64bits(w.vals[j]) != math.Float64bits(g.vals[j]) {
				t.Fatalf("batch %d: %s[%d]: %s %v (%#016x), %s %v (%#016x)", b, w.name, j,
					wantName, w.vals[j], math.Float64bits(w.vals[j]), gotName, g.vals[j], math.Float64bits(g.vals[j]))
			}
		}
	}
	if len(wv) != len(gv) {
		t.Fatalf("batch %d: %s recorded %d groups of values, %s %d", b, wantName, len(wv), gotName, len(gv))
	}
}
