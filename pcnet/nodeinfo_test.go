package pcnet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Only FPA's hidden nodes at gamma 1 hold their exact error from step d on.
func TestNodeInfoExact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		variant Variant
		gamma   float64
		l       int
		exact   bool
	}{
		{"fpa gamma 1 hidden", FixedPrediction, 1, 2, true},
		{"fpa gamma 1 first hidden", FixedPrediction, 1, 1, true},
		{"fpa gamma 1 input", FixedPrediction, 1, 0, false},
		{"fpa gamma 1 output", FixedPrediction, 1, 4, false},
		{"fpa gamma 0.5", FixedPrediction, 0.5, 2, false},
		{"standard gamma 1", Standard, 1, 2, false},
		{"zil", ZeroDivergence, 1, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := Config{Variant: tc.variant, Gamma: tc.gamma}.NodeInfo(3, tc.l)
			require.Equal(t, NodeInfo{Variant: tc.variant, Hidden: 3, Node: tc.l, Distance: 4 - tc.l, Final: 4 - tc.l, Exact: tc.exact}, info)
		})
	}
}
