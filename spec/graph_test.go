package spec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"testing"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/stretchr/testify/require"
)

// residualRun is μPC's residual network on 784-[16]x4-10 with ReLU, the skips 1:3.
func residualRun() Run {
	r := Default()
	r.Sizes = []int{784, 16, 16, 16, 16, 10}
	r.Activation, r.Loss, r.Arch, r.Param = layer.ReLU, "sse", graph.Residual, layer.MuPC
	r.Skips = skipsOf("1:3")
	return r
}

// A graph's settings are checked in Validate, each fault a *FieldError naming -arch,
// -param, -skips or, for what pcnet refuses of a graph, -variant, with the message of
// graph.New or pcnet.
func TestValidateGraph(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(r *Run)
		field   string
		problem string
	}{
		{"residual mupc skips", func(r *Run) {}, "", ""},
		{"chain mupc", func(r *Run) { r.Arch, r.Skips = graph.Chain, nil }, "", ""},
		{"dense chain with skips", func(r *Run) { r.Arch, r.Param = graph.Chain, layer.Standard }, "", ""},
		{"skip from the input to the output", func(r *Run) { r.Sizes[0], r.Skips = 10, skipsOf("0:5") }, "", ""},
		{"unknown arch", func(r *Run) { r.Arch = 5 }, "arch", "unknown shape 5 (want chain or residual)"},
		{"residual widths differ", func(r *Run) { r.Sizes[2] = 8 }, "arch", "a residual network's hidden nodes share one width, but node 1 has 16 and node 2 has 8"},
		{"unknown param", func(r *Run) { r.Param = 2 }, "param", "unknown parameterisation (want standard or mupc)"},
		{"skip out of range", func(r *Run) { r.Skips = skipsOf("0:9") }, "skips", "skip 0:9 names node 9; the nodes are 0..5 (H = 4)"},
		{"skip too short", func(r *Run) { r.Skips = skipsOf("2:3") }, "skips", "skip too short: skip 2:3: want 2 -> j with j >= 4"},
		{"skip twice", func(r *Run) { r.Skips = skipsOf("1:3,1:3") }, "skips", "duplicate skip: 1:3 given twice"},
		{"skip widths", func(r *Run) { r.Skips = skipsOf("0:2") }, "skips", "widths differ: skip 0:2 adds x_0 to mu_2"},
		{"ipc with skips", func(r *Run) { r.Algorithm = IPC }, "variant", "ipc runs on graphs without long skips (this one has 1:3)"},
		{"zil with skips", func(r *Run) { r.Algorithm = ZIL }, "variant", "zil runs on graphs without long skips"},
		{"ipc residual", func(r *Run) { r.Algorithm, r.Skips = IPC, nil }, "", ""},
		{"bp with skips", func(r *Run) { r.Algorithm = BP }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := residualRun()
			tc.edit(&r)
			err := r.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field, "%v", err)
			require.Contains(t, fe.Problem, tc.problem)
		})
	}
}

// A chain of dense layers draws today's MLP bit for bit (old checkpoints and tests keep
// their numbers), with or without skips; every other run draws layer.NewPreActNet's
// maps from the same seed.
func TestInitialMapsOf(t *testing.T) {
	r := Default()
	want, err := InitialLayersOf[float64](&r)
	require.NoError(t, err)
	for _, skips := range [][]graph.Skip{nil, skipsOf("1:3")} {
		r.Skips = skips
		require.True(t, r.Dense())
		require.Equal(t, skips != nil, r.IsGraph())
		maps, err := InitialMapsOf[float64](&r)
		require.NoError(t, err)
		require.Len(t, maps, len(want))
		for l, m := range maps {
			d, ok := m.(*layer.Dense[float64])
			require.True(t, ok, "map %d is dense", l)
			require.Equal(t, want[l].Params(), d.Params(), "map %d", l)
		}
	}

	r = residualRun()
	require.False(t, r.Dense())
	require.True(t, r.IsGraph())
	_, err = InitialLayersOf[float64](&r)
	require.ErrorContains(t, err, "a residual mupc network has no dense layers")
	maps, err := InitialMapsOf[float32](&r)
	require.NoError(t, err)
	L := len(r.Sizes) - 1
	require.Len(t, maps, L)
	for l, m := range maps {
		p, ok := m.(*layer.PreAct[float32])
		require.True(t, ok, "map %d is a pre-activation map", l)
		require.Equal(t, layer.MuPC.Multiplier(l, L, r.Sizes[l]), p.Scale, "map %d", l)
		require.Equal(t, l > 0 && l < L-1, p.Skip, "map %d's identity skip", l)
		require.Nil(t, p.Params()[1], "μPC has no biases")
	}
	require.Equal(t, 1/math.Sqrt(784), maps[0].(*layer.PreAct[float32]).Scale)
	// N(0, 1) weights: their spread is 1, not PyTorch's 1/sqrt(fan_in).
	w := maps[1].Params()[0]
	var sq float64
	for _, v := range w {
		sq += float64(v) * float64(v)
	}
	require.InDelta(t, 1, sq/float64(len(w)), 0.3)
}

// The graph's fields gob-encode with the rest (the cluster sends a Run so); their zero
// values are the chain of dense layers, which a Run encoded before they existed decodes
// to.
func TestGraphFieldsGob(t *testing.T) {
	r := residualRun()
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(r))
	var got Run
	require.NoError(t, gob.NewDecoder(&buf).Decode(&got))
	require.Equal(t, r, got)

	var zero Run
	require.Equal(t, graph.Chain, zero.Arch)
	require.Equal(t, layer.Standard, zero.Param)
	require.Nil(t, zero.Skips)
}

func TestDescribeGraph(t *testing.T) {
	r := residualRun()
	require.Equal(t, "784-16-16-16-16-10 relu residual mupc skips 1:3", r.Net())
	d := Default()
	require.Equal(t, "784-64-64-64-64-10 tanh", d.Net())
	d.Skips = skipsOf("1:4,0:2")
	require.Equal(t, " skips 1:4,0:2", DescribeGraph(d.Arch, d.Param, d.Skips))
	require.Equal(t, 0.5/64, GammaOfActivityLR(0.5, 64))
}

// skipsOf reads skips written as -skips takes them.
func skipsOf(s string) []graph.Skip {
	skips, err := graph.ParseSkips(s)
	if err != nil {
		panic(err)
	}
	return skips
}
