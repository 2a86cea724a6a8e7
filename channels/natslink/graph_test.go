package natslink

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// graphNet is a layer graph (docs/design.md §11) and its maps, drawn from a seed.
type graphNet struct {
	name     string
	widths   []int
	shape    graph.Shape
	skips    string
	residual bool // pre-activation maps under μPC; else dense tanh layers
}

func (c graphNet) build(t *testing.T) (*graph.Graph, []layer.Map[float64]) {
	t.Helper()
	skips, err := graph.ParseSkips(c.skips)
	require.NoError(t, err)
	g, err := graph.New(c.widths, c.shape, skips)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 7))
	var maps []layer.Map[float64]
	if c.residual {
		pre, err := layer.NewPreActNet[float64](c.widths, layer.ReLU, layer.MuPC, c.shape == graph.Residual, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(pre)
	} else {
		dense, err := layer.NewMLP[float64](c.widths, layer.Tanh, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(dense)
	}
	return g, maps
}

// graphBatches draws n batches of 4 rows for widths.
func graphBatches(widths []int, n int) []pcnet.PartBatch[float64] {
	rng := rand.New(rand.NewPCG(9, 11))
	var out []pcnet.PartBatch[float64]
	for range n {
		x := tensor.New[float64](4, widths[0], nil)
		for i := range x.Data {
			x.Data[i] = rng.Float64()
		}
		y := make([]int, 4)
		for i := range y {
			y[i] = rng.IntN(widths[len(widths)-1])
		}
		out = append(out, pcnet.PartBatch[float64]{Rows: 4, X: x, Labels: y, Learn: true})
	}
	return out
}

// weightBits returns the maps' parameters as bits.
func weightBits(maps []layer.Map[float64]) [][]uint64 {
	var out [][]uint64
	for _, m := range maps {
		for _, p := range m.Params() {
			b := make([]uint64, len(p))
			for i, v := range p {
				b[i] = math.Float64bits(v)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestGraphPartsOverNATS: a residual μPC network and the chain with the long skips
// 1:4,3:8 (H = 9), split into two and three parts that each have a connection and a
// transport of their own on one server, learn bit for bit the weights one pcnet
// network learns; the skips cross parts (and one lies inside a part) and are links over
// NATS like the chain's, authenticated under the run's key, whose traffic names their
// nodes.
func TestGraphPartsOverNATS(t *testing.T) {
	h9 := []int{5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}
	cases := []struct {
		c      graphNet
		ranges [][2]int
	}{
		{graphNet{"residual", []int{6, 8, 8, 8, 8, 3}, graph.Residual, "", true}, [][2]int{{0, 2}, {3, 5}}},
		{graphNet{"skips", h9, graph.Chain, "1:4,3:8", false}, [][2]int{{0, 3}, {4, 10}}},
		{graphNet{"skips", h9, graph.Chain, "1:4,3:8", false}, [][2]int{{0, 2}, {3, 5}, {6, 10}}},
		{graphNet{"skips", h9, graph.Chain, "1:4,3:8", false}, [][2]int{{0, 4}, {5, 10}}},
	}
	srv := startServer(t, natsconn.Server{})
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s/%v", tc.c.name, tc.ranges), func(t *testing.T) {
			h := len(tc.c.widths) - 2
			cfg := pcnet.Config{Variant: pcnet.FixedPrediction, Steps: h + 1, Gamma: 1, MaxBatch: 4, Optimizer: optim.DefaultAdam(0.01)}
			batches := graphBatches(tc.c.widths, 3)

			g, maps := tc.c.build(t)
			initial := weightBits(maps)
			seq := cfg
			seq.Engine = pcnet.Sequential
			net, err := pcnet.NewGraph(context.Background(), g, maps, seq)
			require.NoError(t, err)
			for _, b := range batches {
				_, err := net.Learn(context.Background(), b.X, b.Labels)
				require.NoError(t, err)
			}
			require.NoError(t, net.Close())
			want := weightBits(maps)
			require.NotEqual(t, initial, want, "the network learnt nothing")

			g, maps = tc.c.build(t)
			var parts []*pcnet.Part[float64]
			var trs []*Transport[float64]
			for _, r := range tc.ranges {
				tr := newTransport(t, dial(t, srv), Options{Run: fmt.Sprintf("graph%d", i), Setup: 1, Lo: r[0], Hi: r[1], Key: key})
				trs = append(trs, tr)
				p, err := pcnet.NewPart(context.Background(), pcnet.PartSpec[float64]{
					Graph: g, Lo: r[0], Hi: r[1], Maps: maps[r[0] : min(r[1], h)+1], Config: cfg, Transport: tr,
				})
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, p.Close()) })
				parts = append(parts, p)
			}
			for _, b := range batches {
				var eg errgroup.Group
				for _, p := range parts {
					pb := pcnet.PartBatch[float64]{Rows: b.Rows, Learn: true}
					lo, hi := p.Range()
					if lo == 0 {
						pb.X = b.X
					}
					if hi == h+1 {
						pb.Labels = b.Labels
					}
					eg.Go(func() error {
						rep, err := p.Run(context.Background(), pb)
						if err == nil {
							err = rep.Fault
						}
						return err
					})
				}
				require.NoError(t, eg.Wait())
			}
			require.Equal(t, want, weightBits(maps), "weights learnt over NATS")

			// Every link that crosses parts carried traffic, counted under its nodes.
			got := map[[2]int]bool{}
			for _, tr := range trs {
				for _, tf := range tr.TakeTraffic() {
					require.NotZero(t, tf.Messages, "link %d-%d %v", tf.Lower, tf.Upper, tf.Dir)
					got[[2]int{tf.Lower, int(tf.Upper)}] = true
				}
				require.Empty(t, tr.Rejects().Counts(), "frames dropped")
			}
			part := func(n int) int {
				for i, r := range tc.ranges {
					if r[0] <= n && n <= r[1] {
						return i
					}
				}
				return -1
			}
			want2 := map[[2]int]bool{}
			for l := 0; l <= h; l++ {
				if part(l) != part(l+1) {
					want2[[2]int{l, l + 1}] = true
				}
			}
			for _, s := range g.Skips() {
				if part(s.From) != part(s.To) {
					want2[[2]int{s.From, s.To}] = true
				}
			}
			require.Equal(t, want2, got, "links over NATS")
		})
	}
}

// TestSkipLinkSubjects: a skip's link is named by its edge id in its subjects and
// frames, a chain link's by its lower node as before graphs, and a frame of another
// edge's link is refused naming it.
func TestSkipLinkSubjects(t *testing.T) {
	e := newEdgeEndpoint("r1", channels.Edge{Lower: 1, Upper: 4, ID: 10}, channels.Up).inSetup(2)
	data, credit, hello := subjects(e)
	require.Equal(t, []string{"pcnet.r1.setup.2.link.10.up", "pcnet.r1.setup.2.link.10.up.credit", "pcnet.r1.setup.2.link.10.up.hello"}, []string{data, credit, hello})
	require.Equal(t, "natslink: run r1 setup 2 link 1-4 (edge 10) up", e.name)
	c := newEndpoint("r1", 3, channels.Down)
	data, _, _ = subjects(c)
	require.Equal(t, "pcnet.r1.link.3.down", data)
	require.Equal(t, newEdgeEndpoint("r1", channels.ChainEdge(3), channels.Down), c)
	h := header{typ: frameData, run: e.run, lower: 11, dir: channels.Up}
	require.EqualError(t, e.check(&h, frameData), "natslink: run r1 setup 2 link 1-4 (edge 10) up: frame of the link of edge 11 up on this link's subject")
}

// TestSkipLinkBounds: a skip's link is bounded by its widths like any link: a frame on
// its subject of a shape beyond its pool, or one that names another edge, breaks it with
// one error naming the skip's nodes.
func TestSkipLinkBounds(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	intruder := dial(t, srv)
	skip := channels.Edge{Lower: 1, Upper: 4, ID: 10}
	msg := func(e endpoint, rows int) []byte {
		return encodeFrames(e, 0, channels.Message[float64]{Kind: channels.Prediction, Buf: &channels.Buffer[float64]{Rows: rows, Cols: 2, Data: make([]float64, rows*2)}}, 100)[0]
	}
	for i, tc := range []struct {
		name  string
		frame func(run string) []byte
		want  string
	}{
		{"shape", func(run string) []byte { return msg(newEdgeEndpoint(run, skip, channels.Up), 9) }, "message 0 is 9x2; the pool's buffers are 3x2"},
		{"another edge", func(run string) []byte { return msg(newEndpoint(run, 1, channels.Up), 1) }, "frame of the link of edge 1 up on this link's subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := fmt.Sprintf("skip%d", i)
			tr := newTransport(t, dial(t, srv), Options{Run: run, Lo: 3, Hi: 4, Buffers: 2})
			l, err := tr.Edge(skip, 3, 2, 3, 2)
			require.NoError(t, err)
			require.Nil(t, l.UpSend, "node 1 is another process's")
			require.NoError(t, intruder.Publish("pcnet."+run+".link.10.up", tc.frame(run)))
			require.NoError(t, intruder.Flush())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = l.UpRecv.Recv(ctx)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "natslink: run "+run+" link 1-4 (edge 10) up: ")
		})
	}
}

// TestSkipLinkEnds: a skip's link has the ends of the hosted node only, as a chain
// link's; each edge id is made once (a skip as a chain link), and a skip that touches
// no hosted node is refused naming its nodes and id.
func TestSkipLinkEnds(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	tr := newTransport(t, dial(t, srv), Options{Run: "skipends", Lo: 3, Hi: 4})

	into, err := tr.Edge(channels.Edge{Lower: 1, Upper: 4, ID: 10}, 2, 3, 2, 3) // node 4 is the upper node
	require.NoError(t, err)
	require.Nil(t, into.UpSend)
	require.Nil(t, into.DownRecv)
	require.NotNil(t, into.UpRecv)
	require.NotNil(t, into.DownSend)
	require.Equal(t, [3]int{1, 4, 10}, [3]int{into.Lower, into.Upper, into.ID})

	out, err := tr.Edge(channels.Edge{Lower: 3, Upper: 6, ID: 11}, 2, 3, 2, 3) // node 3 is the lower node
	require.NoError(t, err)
	require.NotNil(t, out.UpSend)
	require.NotNil(t, out.DownRecv)
	require.Nil(t, out.UpRecv)
	require.Nil(t, out.DownSend)

	for _, tc := range []struct {
		edge channels.Edge
		want string
	}{
		{channels.Edge{Lower: 1, Upper: 4, ID: 10}, "natslink: run skipends: link 1-4 (edge 10) made twice"},
		{channels.Edge{Lower: 3, Upper: 6, ID: 11}, "natslink: run skipends: link 3-6 (edge 11) made twice"},
		{channels.Edge{Lower: 5, Upper: 7, ID: 12}, "natslink: run skipends: link 5-7 (edge 12) has no node in this process's range [3, 4]"},
		{channels.Edge{Lower: 0, Upper: 2, ID: 13}, "natslink: run skipends: link 0-2 (edge 13) has no node in this process's range [3, 4]"},
		{channels.Edge{Lower: 4, Upper: 3, ID: 14}, "natslink: run skipends: link 4-3 (edge 14): the upper node is not above the lower one"},
	} {
		_, err := tr.Edge(tc.edge, 2, 3, 2, 3)
		require.EqualError(t, err, tc.want)
	}
}
