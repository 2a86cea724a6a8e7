package pcnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// sharedEdges is sharedLinks in either precision: the parts of one process share it, the
// first part to ask for an edge makes its link in-process and the other gets the same
// link, as two processes get the two ends of one link over NATS.
type sharedEdges[T tensor.Float] struct {
	tr    channels.Transport[T]
	mu    sync.Mutex
	links map[int]*channels.Link[T]
	asked []channels.Edge // every edge asked for, in order, twice for a crossing one
}

func newSharedEdges[T tensor.Float]() *sharedEdges[T] {
	return &sharedEdges[T]{tr: channels.NewInProcess[T](linkBuffers), links: map[int]*channels.Link[T]{}}
}

func (s *sharedEdges[T]) Link(lower int, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[T], error) {
	return s.Edge(channels.ChainEdge(lower), upMaxRows, upMaxCols, downMaxRows, downMaxCols)
}

func (s *sharedEdges[T]) Edge(e channels.Edge, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[T], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, e)
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

// runGraphParts is runGraph over parts: c's network built from seed, split at ranges
// (covering 0..H+1 in order), every batch run by all parts at once; the parts' reports
// are concatenated in node order as a coordinator replays them.
func runGraphParts[T tensor.Float](t *testing.T, c graphShape, cfg Config, seed uint64, batches int, ranges [][2]int) (graphRun[T], []channels.Edge) {
	t.Helper()
	g, maps := buildShape[T](t, c, seed)
	h := g.H()
	shared := newSharedEdges[T]()
	var parts []*Part[T]
	defer func() {
		for _, p := range parts {
			require.NoError(t, p.Close())
		}
	}()
	for _, r := range ranges {
		p, err := NewPart(context.Background(), PartSpec[T]{
			Graph: g, Lo: r[0], Hi: r[1], Maps: maps[r[0] : min(r[1], h)+1],
			Config: cfg, Transport: shared, Observe: true,
		})
		require.NoError(t, err)
		parts = append(parts, p)
	}
	var run graphRun[T]
	for b := range batches {
		x, y := graphBatch[T](c, seed+uint64(b), 5)
		reports := make([]PartReport, len(parts))
		var eg errgroup.Group
		ctx := batchCtx(t)
		for i, p := range parts {
			pb := PartBatch[T]{Rows: 5, Learn: true}
			lo, hi := p.Range()
			if lo == 0 {
				pb.X = x
			}
			if hi == h+1 {
				pb.Labels = y
			}
			eg.Go(func() (err error) {
				reports[i], err = p.Run(ctx, pb)
				return err
			})
		}
		require.NoError(t, eg.Wait())
		var updates []*layer.Grad[T]
		run.reports = run.reports[:0]
		for i, p := range parts {
			require.NoError(t, reports[i].Fault)
			updates = append(updates, p.Updates()...)
			for _, n := range reports[i].Nodes {
				n.Steps = slices.Clone(n.Steps)
				run.reports = append(run.reports, n)
			}
		}
		run.updates = append(run.updates, paramsOf(func(l int) [2][]T { return updates[l].Params() }, len(maps)))
		run.weights = append(run.weights, paramsOf(func(l int) [2][]T { return maps[l].Params() }, len(maps)))
	}
	return run, shared.asked
}

// TestGraphPartsEqualOneNetworkBitForBit: a layer graph split into parts (docs/design.md
// §11) computes bit for bit what one NewGraph network computes: updates, weights and
// every node's observed steps, for FPA-PC at gamma 1 (backprop) and 0.5 and standard PC,
// under both schedules, in float64 and float32. The splits put the residual network's
// nodes apart, make both skips of 1:4,3:8 on H = 9 cross parts (over two and three
// parts), keep a skip inside one part, and send a skip from the input across.
func TestGraphPartsEqualOneNetworkBitForBit(t *testing.T) {
	h9 := make([]int, 11)
	for i := range h9 {
		h9[i] = 4
	}
	h9[0], h9[10] = 5, 3
	shapes := []struct {
		c      graphShape
		splits [][][2]int
	}{
		{graphShape{"residual-mupc", []int{6, 8, 8, 8, 8, 3}, graph.Residual, "", false, layer.MuPC, layer.ReLU},
			[][][2]int{{{0, 2}, {3, 5}}, {{0, 0}, {1, 3}, {4, 5}}}},
		{graphShape{"skips-1:4-3:8", h9, graph.Chain, "1:4,3:8", true, 0, layer.Tanh},
			[][][2]int{
				{{0, 3}, {4, 10}},          // both skips cross
				{{0, 2}, {3, 5}, {6, 10}},  // both cross, into different parts
				{{0, 4}, {5, 10}},          // 1:4 inside the first part, 3:8 crosses
				{{0, 1}, {2, 8}, {9, 10}}}, // 1:4 crosses, 3:8 inside the second
		},
		{graphShape{"residual-mupc-skips", []int{5, 5, 5, 5, 5, 5, 5, 4}, graph.Residual, "0:3,1:4,3:6", false, layer.MuPC, layer.Tanh},
			[][][2]int{{{0, 0}, {1, 3}, {4, 7}}}},
	}
	variants := []struct {
		v     Variant
		gamma float64
	}{{FixedPrediction, 1}, {FixedPrediction, 0.5}, {Standard, 0.2}}
	for _, s := range shapes {
		h := len(s.c.widths) - 2
		for _, v := range variants {
			for _, sched := range []Schedule{Event, Dense} {
				cfg := Config{Variant: v.v, Steps: h + 1, Gamma: v.gamma, Schedule: sched, MaxBatch: 5, Optimizer: optim.DefaultAdam(0.01)}
				name := fmt.Sprintf("%s/%v-%v/%v", s.c.name, v.v, v.gamma, sched)
				t.Run(name+"/f64", func(t *testing.T) { checkGraphParts[float64](t, s.c, cfg, s.splits) })
				t.Run(name+"/f32", func(t *testing.T) { checkGraphParts[float32](t, s.c, cfg, s.splits) })
			}
		}
	}
}

func checkGraphParts[T tensor.Float](t *testing.T, c graphShape, cfg Config, splits [][][2]int) {
	net := cfg
	net.Engine = Sequential
	want := runGraph[T](t, c, net, 9, 2)
	for _, split := range splits {
		got, asked := runGraphParts[T](t, c, cfg, 9, 2, split)
		require.Equal(t, bits(want.updates), bits(got.updates), "%v: updates", split)
		require.Equal(t, bits(want.weights), bits(got.weights), "%v: weights", split)
		require.Len(t, got.reports, len(want.reports))
		for n, r := range got.reports {
			require.Equal(t, want.reports[n].Node, r.Node)
			require.Equal(t, want.reports[n].Steps, r.Steps, "%v: node %d's steps", split, r.Node)
			we, ge := want.reports[n].End, r.End
			we.Compute, we.Wait, ge.Compute, ge.Wait = 0, 0, 0, 0 // times, not numbers
			require.Equal(t, we, ge, "%v: node %d's totals", split, r.Node)
		}
		// Every edge of the graph was asked for by each part that hosts one of its ends:
		// once when both are in one part, twice when it crosses.
		g, _ := buildShape[T](t, c, 9)
		for _, e := range graphEdges(g) {
			in := func(n int) int {
				for i, r := range split {
					if r[0] <= n && n <= r[1] {
						return i
					}
				}
				return -1
			}
			want := 1
			if in(e.Lower) != in(e.Upper) {
				want = 2
			}
			require.Equal(t, want, count(asked, e), "%v: %v asked for", split, e)
		}
	}
}

// graphEdges lists g's edges with their ids (pcnet/host.go's edges).
func graphEdges(g *graph.Graph) []channels.Edge {
	var out []channels.Edge
	for l := 0; l <= g.H(); l++ {
		out = append(out, channels.ChainEdge(l))
	}
	for k, s := range g.Skips() {
		out = append(out, channels.Edge{Lower: s.From, Upper: s.To, ID: g.H() + 1 + k})
	}
	return out
}

func count(es []channels.Edge, e channels.Edge) int {
	n := 0
	for _, x := range es {
		if x == e {
			n++
		}
	}
	return n
}

// TestGraphPartRejectsBadSpecs: a part's graph, widths and maps are checked once, with
// one error each.
func TestGraphPartRejectsBadSpecs(t *testing.T) {
	c := graphShape{"residual-mupc", []int{6, 8, 8, 8, 8, 3}, graph.Residual, "", false, layer.MuPC, layer.ReLU}
	g, maps := c.build(t, 3)
	chain, _ := graphShapes[0].build(t, 3)
	plain := *maps[1].(*layer.PreAct[float64])
	plain.Skip = false
	ok := PartSpec[float64]{Graph: g, Lo: 0, Hi: 2, Maps: maps[:3], Config: testConfig(Standard, 4, 4), Transport: newSharedEdges[float64]()}
	for _, tc := range []struct {
		name string
		edit func(*PartSpec[float64])
		want string
	}{
		{"widths not the graph's", func(s *PartSpec[float64]) { s.Widths = chain.Widths() }, "are not the graph's"},
		{"layers and maps", func(s *PartSpec[float64]) { s.Layers = []*layer.Dense[float64]{nil} }, "both Layers and Maps"},
		{"maps short", func(s *PartSpec[float64]) { s.Maps = maps[:2] }, "2 layers given for 3"},
		{"map not residual", func(s *PartSpec[float64]) { s.Lo, s.Hi, s.Maps = 1, 1, []layer.Map[float64]{&plain} }, "map 1 has identity skip false"},
		{"range", func(s *PartSpec[float64]) { s.Hi = 6 }, "not within [0, 5]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.edit(&spec)
			_, err := NewPart(context.Background(), spec)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
