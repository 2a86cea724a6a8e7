package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestModelOfTheIdealSchedule(t *testing.T) {
	// Four equal hidden layers of cost 1 per task, T = 2: FF 5, inference 2 rounds of 4
	// tasks, learning 5 weight VJPs of cost 2.
	m := Model{Steps: 2}
	for range 5 {
		m.Layers = append(m.Layers, LayerCosts{Forward: 1, InputVJP: 1, WeightVJP: 2})
	}
	require.Equal(t, 5+2*4.0+10, m.Predict(1))
	require.Equal(t, 5+2*2.0+5, m.Predict(2))
	// Past one core per task the longest task bounds each phase.
	require.Equal(t, 5+2*1.0+2, m.Predict(16))
	require.Equal(t, m.Predict(1), m.Work())
	m.Handoff = 0.5 // 2 steps x 5 senders = 10 messages
	require.Equal(t, 5+2*2.0+5+10*0.5/2, m.Predict(2))
	m.Resend = true // tasks cost 2 and 8 more predictions are sent
	require.Equal(t, 5+2*4.0+5+18*0.5/2, m.Predict(2))
}
