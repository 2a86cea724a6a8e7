package pcnet

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/stretchr/testify/require"
)

// TestEnergyDecreasesForStandardPC: standard PC's inference is gradient descent on F, so
// at a small step F(t+1) <= F(t) at every step, on both engines and both schedules; F(0)
// is the loss (every hidden error is zero at step 0) and BatchStats carries F(0) and F(T)
// exactly as Energy adds them up from the recorder.
func TestEnergyDecreasesForStandardPC(t *testing.T) {
	const h, steps = 4, 20
	for _, loss := range []layer.Loss{layer.NLL{}, layer.SquaredError{}} {
		for _, eng := range engines {
			for _, sched := range []Schedule{Dense, Event} {
				t.Run(fmt.Sprintf("%s/%v/%v", loss.Name(), eng, sched), func(t *testing.T) {
					f := newFixture(h, 21)
					rec := &Recorder{}
					cfg := Config{Variant: Standard, Steps: steps, Gamma: 0.05, Loss: loss, Engine: eng, Schedule: sched, Observer: rec}
					net, err := New(context.Background(), layer.CloneAll[float64](f.layers), cfg)
					require.NoError(t, err)
					defer func() { require.NoError(t, net.Close()) }()
					lossValue, err := net.Infer(batchCtx(t), f.x, f.labels)
					require.NoError(t, err)

					tr, err := Energy(rec.Nodes())
					require.NoError(t, err)
					require.Len(t, tr.Total, steps+1)
					require.Len(t, tr.Nodes, h+1, "nodes 1..H+1")
					for t0 := 0; t0 < steps; t0++ {
						require.LessOrEqual(t, tr.Total[t0+1], tr.Total[t0], "F(%d) > F(%d)", t0+1, t0)
					}
					require.Less(t, tr.Total[steps], tr.Total[0], "inference lowered F")
					require.Equal(t, lossValue, tr.Total[0], "F(0) is the loss")
					for l := range h {
						require.Zero(t, tr.Nodes[l][0], "node %d's term at step 0", l+1)
					}
					b := rec.Last()
					require.Equal(t, math.Float64bits(tr.Total[0]), math.Float64bits(b.EnergyFirst))
					require.Equal(t, math.Float64bits(tr.Total[steps]), math.Float64bits(b.EnergyLast))
				})
			}
		}
	}
}

// definitionObserver recomputes every node's energy term from the network's own buffers
// at the moment the node reports it (the sequential engine calls Step from the goroutine
// that runs the batch, right after the error was formed).
type definitionObserver struct {
	t      *testing.T
	net    *Network[float64]
	labels []int
	checks int
}

func (o *definitionObserver) Node(info NodeInfo) NodeObserver {
	if info.Node == 0 {
		return nil
	}
	return &definitionNode{o: o, l: info.Node}
}

func (o *definitionObserver) Batch(BatchStats) {}

type definitionNode struct {
	o *definitionObserver
	l int
}

func (d *definitionNode) Step(s StepStats) {
	o := d.o
	nd := o.net.node(d.l)
	if nd.role == outputRole {
		// E at the prediction the output node holds now: the message on its link (under
		// FPA the feed-forward one, which nothing overwrites).
		z := o.net.seq[len(o.labels)].up[d.l-1] // edge d.l-1 -> d.l
		want := layer.LossValue(nd.cfg.Loss, z, o.labels)
		require.Equal(o.t, math.Float64bits(want), math.Float64bits(s.Energy), "node %d step %d: E %v, reported %v", d.l, s.Step, want, s.Energy)
	} else {
		squares := 0.0 // the plain sequential sum: a different order from the kernels'
		for _, v := range nd.w.e.Data {
			squares += v * v
		}
		want := nd.pi / 2 * squares
		if want == 0 {
			require.Zero(o.t, s.Energy, "node %d step %d", d.l, s.Step)
		} else {
			require.InEpsilon(o.t, want, s.Energy, 1e-13, "node %d step %d", d.l, s.Step)
		}
	}
	o.checks++
}

func (*definitionNode) End(NodeStats) {}

// TestEnergyIsItsDefinition checks every reported term against pi_l/2 ||e_l||² of the
// node's error buffer and E at the output's current prediction, for every variant (the
// scaled variant and per-node precisions make pi_l != 1), under both schedules.
func TestEnergyIsItsDefinition(t *testing.T) {
	const h, steps = 3, 6
	for _, v := range Variants() {
		for _, sched := range []Schedule{Dense, Event} {
			t.Run(fmt.Sprintf("%v/%v", v, sched), func(t *testing.T) {
				f := newFixture(h, 22)
				obs := &definitionObserver{t: t, labels: f.labels}
				cfg := Config{Variant: v, Steps: steps, Gamma: 0.3, K: 4, Engine: Sequential, Schedule: sched, Observer: obs, Optimizer: optim.DefaultAdam(0.01)}
				switch v {
				case ZeroDivergence:
					cfg.Gamma = 1
				case Standard, Incremental:
					cfg.Precisions = []float64{0.5, 2, 3}
				}
				net, err := New(context.Background(), layer.CloneAll[float64](f.layers), cfg)
				require.NoError(t, err)
				defer func() { require.NoError(t, net.Close()) }()
				obs.net = net
				for range 2 { // the second batch starts from the first's buffers
					obs.checks = 0
					_, err = net.Learn(batchCtx(t), f.x, f.labels)
					require.NoError(t, err)
					require.Equal(t, (h+1)*(steps+1), obs.checks, "terms checked")
				}
			})
		}
	}
}
