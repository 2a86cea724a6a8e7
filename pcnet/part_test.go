package pcnet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// sharedLinks is a transport that several parts in one process share: the first part to
// ask for a link makes it in-process, the other gets the same link and holds its other
// ends, as two processes do over NATS.
type sharedLinks struct {
	tr    channels.Transport[float64]
	mu    sync.Mutex
	links map[int]*channels.Link[float64]
}

func newSharedLinks() *sharedLinks {
	return &sharedLinks{tr: channels.NewInProcess[float64](linkBuffers), links: map[int]*channels.Link[float64]{}}
}

func (s *sharedLinks) Link(lower int, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[float64], error) {
	return s.Edge(channels.ChainEdge(lower), upMaxRows, upMaxCols, downMaxRows, downMaxCols)
}

// Edge makes edge e's link once, by its id, as two processes do over NATS.
func (s *sharedLinks) Edge(e channels.Edge, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[float64], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.links[e.ID]; ok {
		if l.Lower != e.Lower || l.Upper != e.Upper {
			return nil, fmt.Errorf("edge %d asked for as %v, made as link %d-%d", e.ID, e, l.Lower, l.Upper)
		}
		return l, nil
	}
	l, err := s.tr.Edge(e, upMaxRows, upMaxCols, downMaxRows, downMaxCols)
	if err == nil {
		s.links[e.ID] = l
	}
	return l, err
}

// splitRun is recordRun over parts: the network of from split at the given ranges
// ([lo, hi] each, covering 0..H+1 in order), every batch run by all parts at once, the
// reports replayed into a recorder as a coordinator would.
func splitRun(t *testing.T, cfg Config, from netState, ranges [][2]int, batches []testBatch, rec recording) []batchRecord {
	t.Helper()
	widths := widthsOf(from.layers)
	h := len(widths) - 2
	layers := layer.CloneAll[float64](from.layers)
	shared := newSharedLinks()
	var parts []*Part[float64]
	defer func() {
		for _, p := range parts {
			require.NoError(t, p.Close())
		}
	}()
	for _, r := range ranges {
		p, err := NewPart(context.Background(), PartSpec[float64]{
			Widths: widths, Lo: r[0], Hi: r[1], Layers: layers[r[0] : min(r[1], h)+1],
			Config: cfg, Transport: shared, Observe: rec.observe,
		})
		require.NoError(t, err)
		for l := r[0]; l <= min(r[1], h); l++ {
			for i, st := range must(p.Optimizers(l)) {
				if from.opt != nil {
					require.NoError(t, st.Restore(from.opt[l][i].steps, from.opt[l][i].bufs))
				}
			}
		}
		parts = append(parts, p)
	}
	// The coordinator's observer: one node observer per node, fed from the reports.
	obs := &Recorder{}
	nodeObs := make([]NodeObserver, h+2)
	for l := range nodeObs {
		nodeObs[l] = obs.Node(cfg.NodeInfo(h, l))
	}
	var out []batchRecord
	for _, b := range batches {
		rows, _ := b.x.Dims()
		reports := make([]PartReport, len(parts))
		var g errgroup.Group
		ctx := batchCtx(t)
		for i, p := range parts {
			pb := PartBatch[float64]{Rows: rows, Learn: rec.learn}
			lo, hi := p.Range()
			if lo == 0 {
				pb.X = b.x
			}
			if hi == h+1 {
				pb.Labels = b.labels
			}
			g.Go(func() (err error) {
				reports[i], err = p.Run(ctx, pb)
				return err
			})
		}
		require.NoError(t, g.Wait())
		r := batchRecord{loss: reports[len(reports)-1].Loss, after: netState{layers: layer.CloneAll[float64](layers)}}
		for _, rep := range reports {
			require.NoError(t, rep.Fault)
		}
		var all []NodeReport
		for i, p := range parts {
			for _, g := range p.Updates() {
				c := layer.NewGrad(layers[len(r.updates)])
				c.CopyFrom(g)
				r.updates = append(r.updates, c)
			}
			lo, hi := p.Range()
			for l := lo; l <= min(hi, h) && cfg.Optimizer.Kind != 0; l++ {
				var o [2]optState
				for j, st := range must(p.Optimizers(l)) {
					o[j] = optState{steps: st.Steps(), bufs: st.Buffers()}
				}
				r.after.opt = append(r.after.opt, o)
			}
			if rec.observe {
				require.Len(t, reports[i].Nodes, hi-lo+1, "part [%d, %d]: node reports", lo, hi)
				for _, n := range reports[i].Nodes {
					n.Replay(nodeObs[n.Node])
					all = append(all, n)
				}
			}
		}
		if rec.observe {
			// A coordinator adds up the energy from the replayed reports, as cluster does.
			tr := must(Energy(all))
			obs.Batch(BatchStats{Variant: cfg.Variant, Hidden: h, Steps: cfg.Steps, Batch: rows, Loss: r.loss, Learned: rec.learn,
				EnergyFirst: tr.Total[0], EnergyLast: tr.Total[len(tr.Total)-1]})
			r.steps, r.ends, r.batches = observed(obs)
		}
		out = append(out, r)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPartsEqualOneNetworkBitForBit: a network split into 2 and 3 parts that talk over
// links equals one Network bit for bit, for FPA, standard PC, Z-IL and iPC under both
// schedules: losses, updates, weights and optimiser states after every batch, and every
// observer statistic replayed from the parts' reports.
func TestPartsEqualOneNetworkBitForBit(t *testing.T) {
	const h = 4
	f := newBatchFixture(h, 21, 8)
	batches := f.fixtureBatches(5, 8, 5, 8)
	splits := [][][2]int{
		{{0, 2}, {3, h + 1}},
		{{0, 0}, {1, h}, {h + 1, h + 1}},
		{{0, 1}, {2, 3}, {4, h + 1}},
	}
	for _, v := range []Variant{FixedPrediction, Standard, ZeroDivergence, Incremental} {
		for _, sched := range []Schedule{Event, Dense} {
			cfg := testConfig(v, h, h+1)
			cfg.Schedule, cfg.MaxBatch, cfg.Optimizer = sched, 8, testAdam
			want := recordRun(t, cfg, netState{layers: f.layers}, batches, recording{learn: true, observe: true})
			for _, split := range splits {
				t.Run(fmt.Sprintf("%v/%v/%v", v, sched, split), func(t *testing.T) {
					got := splitRun(t, cfg, netState{layers: f.layers}, split, batches, recording{learn: true, observe: true})
					requireSameBits(t, "one network", want, "parts", got)
				})
			}
		}
	}
}

// TestPartsInferUnobserved: parts that only infer, without observing, equal one network.
func TestPartsInferUnobserved(t *testing.T) {
	const h = 3
	f := newBatchFixture(h, 4, 6)
	batches := f.fixtureBatches(9, 6, 3)
	cfg := testConfig(Standard, h, h)
	cfg.MaxBatch = 6
	want := recordRun(t, cfg, netState{layers: f.layers}, batches, recording{})
	got := splitRun(t, cfg, netState{layers: f.layers}, [][2]int{{0, 1}, {2, h + 1}}, batches, recording{})
	requireSameBits(t, "one network", want, "parts", got)
}

func TestNewPartRejectsBadSpecs(t *testing.T) {
	f := newFixture(2, 3)
	widths := widthsOf(f.layers)
	ok := PartSpec[float64]{Widths: widths, Lo: 0, Hi: 1, Layers: f.layers[:2], Config: testConfig(Standard, 2, 2), Transport: newSharedLinks()}
	for _, tc := range []struct {
		name string
		edit func(*PartSpec[float64])
		want string
	}{
		{"no hidden node", func(s *PartSpec[float64]) { s.Widths = widths[:2] }, "H >= 1"},
		{"range outside", func(s *PartSpec[float64]) { s.Hi = 4 }, "not within [0, 3]"},
		{"empty range", func(s *PartSpec[float64]) { s.Lo, s.Hi = 2, 1 }, "not within"},
		{"layers short", func(s *PartSpec[float64]) { s.Layers = f.layers[:1] }, "1 layers given for 2"},
		{"layer widths", func(s *PartSpec[float64]) { s.Layers = f.layers[1:3] }, "map 0 is"},
		{"no transport", func(s *PartSpec[float64]) { s.Transport = nil }, "no transport"},
		{"sequential", func(s *PartSpec[float64]) { s.Config.Engine = Sequential }, "parallel engine"},
		{"observer", func(s *PartSpec[float64]) { s.Config.Observer = &Recorder{} }, "Observer must be nil"},
		{"gamma", func(s *PartSpec[float64]) { s.Config.Gamma = 0 }, "gamma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.edit(&spec)
			_, err := NewPart(context.Background(), spec)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestPartRejectsBadBatches: each part checks what it is given.
func TestPartRejectsBadBatches(t *testing.T) {
	f := newFixture(2, 3)
	widths := widthsOf(f.layers)
	shared := newSharedLinks()
	cfg := testConfig(Standard, 2, 2)
	cfg.MaxBatch = 6
	lower, err := NewPart(context.Background(), PartSpec[float64]{Widths: widths, Lo: 0, Hi: 1, Layers: f.layers[:2], Config: cfg, Transport: shared})
	require.NoError(t, err)
	defer lower.Close()
	upper, err := NewPart(context.Background(), PartSpec[float64]{Widths: widths, Lo: 2, Hi: 3, Layers: f.layers[2:], Config: cfg, Transport: shared})
	require.NoError(t, err)
	defer upper.Close()
	for _, tc := range []struct {
		name string
		p    *Part[float64]
		b    PartBatch[float64]
		want string
	}{
		{"rows", lower, PartBatch[float64]{Rows: 7, X: f.x}, "exceeds MaxBatch 6"},
		{"no x", lower, PartBatch[float64]{Rows: 6}, "no batch for the input node"},
		{"x rows", lower, PartBatch[float64]{Rows: 5, X: f.x}, "6 rows, expected 5"},
		{"labels to lower", lower, PartBatch[float64]{Rows: 6, X: f.x, Labels: f.labels}, "only node 3's part"},
		{"x to upper", upper, PartBatch[float64]{Rows: 6, X: f.x, Labels: f.labels}, "only node 0's part"},
		{"labels missing", upper, PartBatch[float64]{Rows: 6}, "0 labels for a batch of 6"},
		{"learn without optimiser", upper, PartBatch[float64]{Rows: 6, Labels: f.labels, Learn: true}, "needs Config.Optimizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.Run(batchCtx(t), tc.b)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = lower.Optimizers(2)
	require.ErrorContains(t, err, "does not host weight layer 2")
}

// TestPartStopsWhenItsNeighbourIsGone: a part whose neighbour never runs the batch
// waits until its context ends, then is stopped for good.
func TestPartStopsWhenItsNeighbourIsGone(t *testing.T) {
	f := newFixture(2, 3)
	shared := newSharedLinks()
	cfg := testConfig(Standard, 2, 2)
	lower, err := NewPart(context.Background(), PartSpec[float64]{Widths: widthsOf(f.layers), Lo: 0, Hi: 1, Layers: f.layers[:2], Config: cfg, Transport: shared})
	require.NoError(t, err)
	defer lower.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = lower.Run(ctx, PartBatch[float64]{Rows: 6, X: f.x})
	require.ErrorIs(t, err, context.Canceled)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = lower.Run(ctx, PartBatch[float64]{Rows: 6, X: f.x})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualError(t, err, "pcnet: batch cancelled while node 0 waited for the error from node 1: context deadline exceeded")
	_, err = lower.Run(batchCtx(t), PartBatch[float64]{Rows: 6, X: f.x})
	require.ErrorIs(t, err, ErrClosed)
}
