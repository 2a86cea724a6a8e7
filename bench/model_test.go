package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func equalLayers(n int, c LayerCosts) []LayerCosts {
	ls := make([]LayerCosts, n)
	for i := range ls {
		ls[i] = c
	}
	return ls
}

func TestModelOfTheIdealSchedule(t *testing.T) {
	unit := LayerCosts{Forward: 1, InputVJP: 1, WeightVJP: 2}
	tests := []struct {
		name  string
		m     Model
		cores []int
		want  []float64
	}{
		// H = 1, T = 1: FF_0, FF_1, S_{1,0}, then W_0 and W_1 side by side from 2 cores on.
		{"H=1 T=1", Model{Layers: equalLayers(2, unit), Steps: 1}, []int{1, 2, 16}, []float64{7, 5, 5}},
		// H = 2, T = 2 with weight VJPs of 1: the chain FF_0..FF_2, two rounds of two
		// steps, three weight VJPs; 10 on one core, 6 with a core per task.
		{"H=2 T=2", Model{Layers: equalLayers(3, LayerCosts{1, 1, 1}), Steps: 2}, []int{1, 16}, []float64{10, 6}},
		// Resent predictions: each step costs InputVJP + Forward, and S_{2,0} needs no
		// new prediction at t = 0.
		{"H=2 T=1 resend", Model{Layers: equalLayers(3, LayerCosts{1, 1, 1}), Steps: 1, Resend: true}, []int{1, 16}, []float64{10, 6}},
		// Six messages (2 predictions, 1 error at t = 0 from node 1, 1 from S_{1,0}, 2 from
		// the output node) at 0.5 on one core.
		{"H=1 T=1 handoff", Model{Layers: equalLayers(2, unit), Steps: 1, Handoff: 0.5}, []int{1}, []float64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, p := range tt.cores {
				require.Equal(t, tt.want[i], tt.m.Predict(p), "%d cores", p)
			}
		})
	}
}

func TestModelOverlapsTheFeedForwardWithTheFirstSteps(t *testing.T) {
	// H = 3: S_{1,0} needs e_2(0), sent after FF_2, so it runs beside FF_3 on a second
	// core, and the weight VJPs of the upper layers beside the last steps below. On two
	// cores the schedule is then shorter than the phases one after another: the
	// feed-forward chain (4), T rounds of 3 tasks on 2 cores (3 x 1.5), 4 weight VJPs on
	// 2 cores (2).
	m := Model{Layers: equalLayers(4, LayerCosts{1, 1, 1}), Steps: 3}
	require.Less(t, m.Predict(2), 4+3*1.5+2.0)
	// With a core per task the critical path remains: the chain, S_{2,0} after FF_3 and
	// its two successors, a weight VJP.
	require.Equal(t, 4.0+3+1, m.Predict(16))
	// More cores never make it slower, one core is the sum of all costs, and Work is the
	// arithmetic without the hand-offs.
	m.Handoff = 0.25
	for p := 1; p < 16; p++ {
		require.LessOrEqual(t, m.Predict(p+1), m.Predict(p), "%d cores", p)
	}
	msgs := 4.0 + 3 + 3*3 + 4 // predictions, e(0), errors of the steps, output errors
	require.InDelta(t, m.Work()+msgs*0.25, m.Predict(1), 1e-12)
	require.Equal(t, 4.0+3*3+4, m.Work())
}
