package train

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMinLayerCosine(t *testing.T) {
	for _, tc := range []struct {
		name string
		cos  []float64
		at   int
		v    float64
	}{
		{"none", nil, 0, math.NaN()},
		{"one", []float64{0.5}, 1, 0.5},
		{"first of ties", []float64{0.9, 0.1, 0.1}, 2, 0.1},
		{"negative", []float64{0.99998, -0.88, 0.3}, 2, -0.88},
		{"last", []float64{1, 1, 0.999}, 3, 0.999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, v := MinLayerCosine(tc.cos)
			require.Equal(t, tc.at, at)
			if math.IsNaN(tc.v) {
				require.True(t, math.IsNaN(v))
			} else {
				require.Equal(t, tc.v, v)
			}
		})
	}
}

func TestWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    EpochInfo
		want string
	}{
		{"learns", EpochInfo{ValAccuracy: 0.91, MeanLayerCosine: []float64{0.2, 0.99}}, ""},
		{"just above the margin", EpochInfo{ValAccuracy: 0.1501}, ""},
		{"at chance", EpochInfo{ValAccuracy: 0.096},
			"warning: validation accuracy 9.60% is at chance (<= 15% for 10 classes): the network does not learn"},
		{"at the margin", EpochInfo{ValAccuracy: 0.15},
			"warning: validation accuracy 15.00% is at chance (<= 15% for 10 classes): the network does not learn"},
		{"negative layer", EpochInfo{ValAccuracy: 0.5, MeanLayerCosine: []float64{-0.88, 0.99998}},
			"warning: layer 1's update points away from backprop's (cosine -0.88)"},
		{"both", EpochInfo{ValAccuracy: 0.1, MeanLayerCosine: []float64{0.9, -0.01}},
			"warning: validation accuracy 10.00% is at chance (<= 15% for 10 classes): the network does not learn; layer 2's update points away from backprop's (cosine -0.01)"},
		{"zero cosine is not below 0", EpochInfo{ValAccuracy: 0.5, MeanLayerCosine: []float64{0}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Warning(tc.e, 10))
		})
	}
}

func TestCosineNote(t *testing.T) {
	require.Equal(t, "", CosineNote(EpochInfo{}))
	require.Equal(t, " (min 0.12000 at layer 1)", CosineNote(EpochInfo{MeanLayerCosine: []float64{0.12, 0.99998}}))
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{4100 * time.Millisecond, "4.1s"},
		{100 * time.Millisecond, "0.1s"},
		{99 * time.Millisecond, "99ms"},
		{34*time.Millisecond + 400*time.Microsecond, "34ms"},
		{0, "0ms"},
	} {
		require.Equal(t, tc.want, Seconds(tc.d), "%v", tc.d)
	}
}
