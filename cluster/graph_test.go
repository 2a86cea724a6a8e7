package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// graphCase is a layer graph (docs/design.md §11) as a run describes it.
type graphCase struct {
	name   string
	widths []int
	arch   graph.Shape
	param  layer.Param
	skips  string
	act    layer.Activation
}

func (c graphCase) run(t *testing.T) *spec.Run {
	t.Helper()
	skips, err := graph.ParseSkips(c.skips)
	require.NoError(t, err)
	return &spec.Run{Sizes: c.widths, Arch: c.arch, Param: c.param, Skips: skips, Activation: c.act, Seed: 5}
}

// build returns the case's graph and initial maps in T (spec.InitialMapsOf).
func (c graphCase) build(t *testing.T) (*graph.Graph, []layer.Map[float64]) {
	t.Helper()
	r := c.run(t)
	g, err := r.Graph()
	require.NoError(t, err)
	maps, err := spec.InitialMapsOf[float64](r)
	require.NoError(t, err)
	return g, maps
}

// graphMapsState is the maps' parameters and optimiser states, as bits.
func graphMapsState(maps []layer.Map[float64], opt [][2]*optim.State[float64]) [][]uint64 {
	var out [][]uint64
	add := func(v []float64) {
		b := make([]uint64, len(v))
		for i, x := range v {
			b[i] = math.Float64bits(x)
		}
		out = append(out, b)
	}
	for l, m := range maps {
		for _, p := range m.Params() {
			add(p)
		}
		for _, st := range opt[l] {
			out = append(out, []uint64{uint64(st.Steps())})
			for _, name := range []string{"m", "v"} {
				add(st.Buffers()[name])
			}
		}
	}
	return out
}

// TestGraphWorkersEqualOneProcessBitForBit: residual μPC networks and long-skip graphs
// (1:4,3:8 on H = 9, both skips between workers; a skip inside one worker) whose nodes
// live in two and three workers learn bit for bit what one pcnet network learns: losses,
// weights, optimiser states after Sync, and every observer statistic; the skips' traffic
// reaches Options.Traffic under their nodes.
func TestGraphWorkersEqualOneProcessBitForBit(t *testing.T) {
	h9 := []int{6, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}
	cases := []struct {
		c      graphCase
		ranges [][]Range
	}{
		{graphCase{"residual-mupc", []int{6, 5, 5, 5, 5, 3}, graph.Residual, layer.MuPC, "", layer.ReLU},
			[][]Range{{{0, 2}, {3, 5}}, {{0, 1}, {2, 3}, {4, 5}}}},
		{graphCase{"skips", h9, graph.Chain, layer.Standard, "1:4,3:8", layer.Tanh},
			[][]Range{{{0, 3}, {4, 10}}, {{0, 2}, {3, 5}, {6, 10}}, {{0, 4}, {5, 10}}}},
		{graphCase{"residual-mupc-skips", []int{5, 5, 5, 5, 5, 5, 3}, graph.Residual, layer.MuPC, "0:2,2:5", layer.Tanh},
			[][]Range{{{0, 1}, {2, 3}, {4, 6}}}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for ci, tc := range cases {
		h := len(tc.c.widths) - 2
		var batches []*tensor.Matrix[float64]
		var labels [][]int
		for range 3 {
			x := tensor.New[float64](5, tc.c.widths[0], nil)
			for i := range x.Data {
				x.Data[i] = rng.Float64()
			}
			y := make([]int, 5)
			for i := range y {
				y[i] = rng.IntN(tc.c.widths[h+1])
			}
			batches, labels = append(batches, x), append(labels, y)
		}
		cfg := pcnet.Config{Variant: pcnet.FixedPrediction, Steps: h + 1, Gamma: 1, MaxBatch: 5, Optimizer: adam}
		// One process.
		g, maps := tc.c.build(t)
		obs := &recorder{}
		one := cfg
		one.Observer = obs
		net, err := pcnet.NewGraph(context.Background(), g, maps, one)
		require.NoError(t, err)
		var want outcome
		for i, x := range batches {
			loss, err := net.Learn(batchCtx(t), x, labels[i])
			require.NoError(t, err)
			want.losses = append(want.losses, math.Float64bits(loss))
		}
		var opt [][2]*optim.State[float64]
		for l := range maps {
			opt = append(opt, net.Optimizers(l))
		}
		wantState := graphMapsState(maps, opt)
		want.obs = obs.lines
		require.NoError(t, net.Close())

		for ri, ranges := range tc.ranges {
			t.Run(fmt.Sprintf("%s/%v", tc.c.name, ranges), func(t *testing.T) {
				c := startCluster(t, fmt.Sprintf("g%d-%d", ci, ri), ranges, 2*time.Second)
				g, maps := tc.c.build(t)
				obs := &recorder{}
				cfg := cfg
				cfg.Observer = obs
				links := map[string]bool{}
				nc := dial(t, c.srv, "coordinator")
				defer nc.Close()
				co, err := NewGraphCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: c.run, Workers: ranges, Timeout: 2 * time.Second, JoinTimeout: 20 * time.Second,
					Traffic: func(tr channels.Traffic) error {
						links[fmt.Sprintf("%d-%d", tr.Lower, tr.Upper)] = true
						return nil
					}}, g, maps, cfg)
				require.NoError(t, err)
				var got outcome
				for i, x := range batches {
					loss, err := co.Step(batchCtx(t), x, labels[i])
					require.NoError(t, err)
					got.losses = append(got.losses, math.Float64bits(loss))
				}
				require.NoError(t, co.Sync(batchCtx(t)))
				require.Equal(t, want.losses, got.losses, "losses")
				require.Equal(t, wantState, graphMapsState(co.Maps(), co.Optimizers()), "weights and optimiser states")
				require.Equal(t, byNode(want.obs), byNode(obs.lines), "observer statistics")
				require.Equal(t, tc.c.arch == graph.Chain && tc.c.param == layer.Standard, co.Layers() != nil, "dense layers")
				for _, s := range g.Skips() {
					if part(ranges, s.From) != part(ranges, s.To) {
						require.True(t, links[fmt.Sprintf("%d-%d", s.From, s.To)], "traffic of skip %v between workers", s)
					}
				}
				require.NoError(t, co.Close())
				for i := range ranges {
					require.NoError(t, c.wait(t, i, 5*time.Second), "worker %d after Stop", i)
				}
			})
		}
	}
}

// part is the index of the range that holds node n.
func part(ranges []Range, n int) int {
	for i, r := range ranges {
		if r.Lo <= n && n <= r.Hi {
			return i
		}
	}
	return -1
}

// TestMapsOfIsPreActNet: the maps a worker builds from a run's fields are, map by map,
// those layer.PreActNet (or NewMLP) builds for the whole network: kind, widths,
// activation, multiplier and identity skip; and a coordinator's maps that are not are
// refused, naming the map.
func TestMapsOfIsPreActNet(t *testing.T) {
	for _, c := range []graphCase{
		{"chain", []int{6, 5, 4, 3}, graph.Chain, layer.Standard, "", layer.Tanh},
		{"chain-skips", []int{6, 5, 5, 5, 3}, graph.Chain, layer.Standard, "1:3", layer.ReLU},
		{"chain-mupc", []int{6, 5, 4, 3}, graph.Chain, layer.MuPC, "", layer.ReLU},
		{"residual-standard", []int{6, 5, 5, 5, 3}, graph.Residual, layer.Standard, "", layer.Tanh},
		{"residual-mupc", []int{5, 5, 5, 5, 3}, graph.Residual, layer.MuPC, "0:2", layer.ReLU},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.run(t)
			g, maps := c.build(t)
			for lo := 0; lo <= g.H(); lo++ {
				got, err := mapsOf[float64](r, g, lo, lo+1)
				require.NoError(t, err)
				for i, m := range got {
					gd, _ := descOf(m)
					wd, _ := descOf(maps[lo+i])
					require.Equal(t, wd, gd, "map %d", lo+i)
				}
			}
			act, param, err := describeNet(g, maps)
			require.NoError(t, err)
			require.Equal(t, [2]any{c.act, c.param}, [2]any{act, param})
		})
	}
	c := graphCase{"residual-mupc", []int{6, 5, 5, 5, 3}, graph.Residual, layer.MuPC, "", layer.ReLU}
	g, maps := c.build(t)
	p := *maps[2].(*layer.PreAct[float64])
	p.Scale *= 2
	maps[2] = &p
	_, _, err := describeNet(g, maps)
	require.ErrorContains(t, err, "cluster: map 2 ")
	_, _, err = describeNet(g, maps[:3])
	require.EqualError(t, err, fmt.Sprintf("cluster: 3 maps for %v, want 4 (one per node 0..H)", g))
}

// TestCheckSetupOfGraphs: a graph setup's bounds are checked before anything is built:
// its graph (shape, skips, parameterisation), the bias bytes of pre-activation maps
// (none), and the width of a skip's far end the worker links to.
func TestCheckSetupOfGraphs(t *testing.T) {
	good := func() *message {
		return &message{Kind: kindSetup, Net: spec.Run{Sizes: []int{5, 5, 5, 5, 3}, Arch: graph.Residual, Param: layer.MuPC,
			Skips: []graph.Skip{{From: 0, To: 3}}, Activation: layer.ReLU, Batch: 4, Precision: spec.F64},
			Layers: []layerState{{W: make([]byte, 8*5*5)}, {W: make([]byte, 8*5*5)}}}
	}
	r := Range{0, 1}
	require.NoError(t, checkSetup(good(), r))
	for _, tc := range []struct {
		name string
		edit func(m *message)
		want string
	}{
		{"bias on a pre-activation map", func(m *message) { m.Layers[1].B = make([]byte, 8*5) }, "layer 1 of 5x5: 200 weight and 40 bias bytes"},
		{"skip out of range", func(m *message) { m.Net.Skips = []graph.Skip{{From: 0, To: 9}} }, "layer graph: "},
		{"skip between widths", func(m *message) { m.Net.Skips = []graph.Skip{{From: 2, To: 4}} }, "layer graph: "},
		{"unknown param", func(m *message) { m.Net.Param = 7 }, "parameterisation 7"},
		{"unknown arch", func(m *message) { m.Net.Arch = 9 }, "layer graph: "},
		{"residual widths", func(m *message) { m.Net.Sizes, m.Net.Skips = []int{6, 5, 4, 5, 3}, nil }, "layer graph: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			require.ErrorContains(t, checkSetup(m, r), tc.want)
		})
	}
	// A skip's far end is a node the worker links to: its working memory is bounded too.
	wide := &message{Kind: kindSetup, Net: spec.Run{Sizes: []int{6, 5, 5, 5, 5, 5, 3}, Skips: []graph.Skip{{From: 1, To: 5}},
		Activation: layer.Tanh, Batch: 4, Precision: spec.F64}, Layers: []layerState{{W: make([]byte, 8*5*5), B: make([]byte, 8*5)}}}
	require.NoError(t, checkSetup(wide, Range{1, 1}))
	require.Equal(t, []int{0, 1, 2, 5}, linkedNodes(must(wide.Net.Graph()), Range{1, 1}))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLinkedNodes: a worker links to the chain neighbours of its range and to the other
// end of every long skip with one end in it, the skip's source as well as its target
// (docs/design.md §11), so that both ends' working memory is bounded in its setup.
func TestLinkedNodes(t *testing.T) {
	g, err := graph.New([]int{5, 5, 5, 5, 5, 5, 3}, graph.Chain, []graph.Skip{{From: 0, To: 3}, {From: 1, To: 5}})
	require.NoError(t, err)
	for _, tc := range []struct {
		r    Range
		want []int
	}{
		{Range{0, 0}, []int{0, 1, 3}},          // the source of 0:3
		{Range{1, 1}, []int{0, 1, 2, 5}},       // the source of 1:5
		{Range{3, 3}, []int{0, 2, 3, 4}},       // the target of 0:3
		{Range{5, 6}, []int{1, 4, 5, 6}},       // the target of 1:5, and the output
		{Range{2, 4}, []int{0, 1, 2, 3, 4, 5}}, // 1:5 has neither end inside
		{Range{0, 6}, []int{0, 1, 2, 3, 4, 5, 6}},
	} {
		t.Run(fmt.Sprint(tc.r), func(t *testing.T) {
			require.Equal(t, tc.want, linkedNodes(g, tc.r))
		})
	}
}

// TestHasLink: the traffic a coordinator accepts from its workers is that of a
// direction of one of the network's links: a chain link (its upper node named or not)
// or one of its long skips, and nothing between two nodes that no edge joins.
func TestHasLink(t *testing.T) {
	g, err := graph.New([]int{5, 5, 5, 5, 5, 3}, graph.Chain, []graph.Skip{{From: 0, To: 3}, {From: 1, To: 4}})
	require.NoError(t, err)
	c := &Coordinator[float64]{h: g.H(), g: g}
	for _, tc := range []struct {
		lower, upper int
		dir          channels.Direction
		want         bool
	}{
		{0, 0, channels.Up, true}, // a chain link that does not name its upper node
		{0, 1, channels.Down, true},
		{4, 5, channels.Up, true},
		{0, 3, channels.Up, true},
		{1, 4, channels.Down, true},
		{0, 4, channels.Up, false}, // no such skip
		{1, 3, channels.Up, false},
		{2, 5, channels.Down, false},
		{5, 6, channels.Up, false}, // above the output
		{-1, 0, channels.Up, false},
		{1, 2, channels.Direction(0), false},
	} {
		t.Run(fmt.Sprintf("%d-%d %v", tc.lower, tc.upper, tc.dir), func(t *testing.T) {
			require.Equal(t, tc.want, c.hasLink(channels.Traffic{Lower: tc.lower, Upper: int32(tc.upper), Dir: tc.dir}))
		})
	}
}
