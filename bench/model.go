package bench

import "fmt"

// LayerCosts are the measured costs, in nanoseconds, of one weight layer's operations on
// one batch (BenchmarkLayerOp): a forward with its derivative, an input VJP with the gating
// and the FPA error step, and a weight VJP with the SGD step.
type LayerCosts struct {
	Forward, InputVJP, WeightVJP float64
}

// Model predicts the time of one PC weight update on the parallel engine from per-layer
// costs, as the ideal schedule of the update's tasks on P cores:
//
//	feed-forward   a chain: node l+1 cannot start before node l is done, so
//	               sum_l Forward_l, whatever P;
//	inference      T rounds, each made of one task per hidden node (InputVJP_l, plus
//	               Forward_l for the variants that resend predictions); the rounds
//	               pipeline, so they cost T * max(sum_l task_l / P, max_l task_l);
//	learning       one WeightVJP per layer, independent: max(sum_l W_l / P, max_l W_l);
//	hand-offs      every hidden and output node sends one error per step, and under
//	               standard PC and Z-IL every hidden node one prediction: messages *
//	               Handoff / P.
//
// Everything else (the loss, the elementwise error forms) is folded into the measured
// tasks or neglected; the model is checked against measurements at 1 and 2 cores.
type Model struct {
	Layers  []LayerCosts // weight layers 0..H
	Steps   int          // T
	Resend  bool         // whether hidden nodes resend predictions (standard PC, Z-IL)
	Handoff float64      // nanoseconds a message costs its sender and receiver together
}

// Predict returns the predicted nanoseconds per update on p cores.
func (m Model) Predict(p int) float64 {
	if p < 1 {
		panic(fmt.Sprintf("bench: Predict on %d cores", p))
	}
	h := len(m.Layers) - 1
	var ff, infSum, infMax, wSum, wMax float64
	for l, c := range m.Layers {
		ff += c.Forward
		wSum += c.WeightVJP
		wMax = max(wMax, c.WeightVJP)
		if l >= 1 {
			task := c.InputVJP
			if m.Resend {
				task += c.Forward
			}
			infSum += task
			infMax = max(infMax, task)
		}
	}
	P := float64(p)
	msgs := float64(m.Steps * (h + 1))
	if m.Resend {
		msgs += float64(m.Steps * h)
	}
	return ff + float64(m.Steps)*max(infSum/P, infMax) + max(wSum/P, wMax) + msgs*m.Handoff/P
}

// Work returns the total nanoseconds of arithmetic in one update: what the sequential
// engine does.
func (m Model) Work() float64 {
	saved := m.Handoff
	m.Handoff = 0
	w := m.Predict(1)
	m.Handoff = saved
	return w
}
