package train

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/spec"
	"github.com/stretchr/testify/require"
)

// TestMeasureUpdates checks compare's measurement: FPA with gamma 1 and T = H makes
// backprop's update exactly, standard PC with T < H leaves the lowest layer's update at
// zero (cosine NaN, null in JSON, "-" in the table).
func TestMeasureUpdates(t *testing.T) {
	d := mnist.Synthetic(16, 12, 3, 9)
	base := spec.Default()
	base.Sizes, base.Batch = []int{12, 8, 8, 3}, 16
	fpa, pc := base, base
	fpa.Algorithm, fpa.PC.Steps = spec.FPA, 2
	pc.Algorithm, pc.PC.Steps, pc.PC.Gamma = spec.PC, 1, 0.1
	layers, err := base.InitialLayers()
	require.NoError(t, err)
	var rep UpdateReport[float64]
	require.NoError(t, MeasureUpdates(batchCtx(t), &rep, []*spec.Run{&fpa, &pc}, layer.AsMaps(layers), d.Rows(0, d.Len(), nil), d.Labels, nil))
	require.Len(t, rep.Variants, 2)
	for _, tc := range []struct {
		v              *VariantReport[float64]
		name           string
		lowestCosine   float64 // NaN: no update
		allCosineAbove float64
	}{
		{rep.Variants[0], "fpa", 1, 1 - 1e-12},
		{rep.Variants[1], "pc", math.NaN(), 0},
	} {
		require.Equal(t, tc.name, tc.v.Variant)
		require.Len(t, tc.v.Layers, 3)
		if math.IsNaN(tc.lowestCosine) {
			require.True(t, math.IsNaN(float64(tc.v.Layers[0].Cosine)), "%s layer 0", tc.name)
		} else {
			require.InDelta(t, tc.lowestCosine, float64(tc.v.Layers[0].Cosine), 1e-12, "%s layer 0", tc.name)
		}
		require.Greater(t, float64(tc.v.All.Cosine), tc.allCosineAbove, tc.name)
	}
	js, err := json.Marshal(&rep)
	require.NoError(t, err)
	require.Contains(t, string(js), `{"layer":0,"cosine":null`)
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "pc       1  0.1    -  0      -")
	// Which layers learn: FPA's updates are backprop's size in every layer; PC's lowest
	// layer (T = 1 below its distance 2) takes none.
	require.Empty(t, rep.Variants[0].ZeroLayers)
	require.Equal(t, []int{0}, rep.Variants[1].ZeroLayers)
	for _, a := range append(rep.Variants[0].Layers, rep.Variants[0].All) {
		require.InDelta(t, 1, float64(a.Ratio), 1e-12)
	}
	require.Zero(t, float64(rep.Variants[1].Layers[0].Ratio))
	require.Contains(t, string(js), `"zero_layers":[0]`)
	require.Contains(t, string(js), `"zero_layers":[]`)
	require.Contains(t, table.String(), "pc: weight layer 0 takes an exactly zero update\n")
}
