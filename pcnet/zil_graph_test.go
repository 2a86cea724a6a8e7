package pcnet

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/layer"
)

// closestStep runs Z-IL's dynamics (standard PC with unit precisions and gamma 1) on c's
// network for T = 0 .. 2H+2 and returns, for every weight layer, the step whose update is
// closest to backprop's (GraphNet's negated gradient) and its relative error there. Z-IL
// takes layer l's update at one step of these dynamics, so a layer that is exact at no
// step has no Z-IL rule.
func closestStep(t *testing.T, c graphShape) (step []int, relErr []float64) {
	t.Helper()
	g, maps := c.build(t, 3)
	h := g.H()
	bp, err := backprop.NewGraph(g, maps, layer.NLL{})
	require.NoError(t, err)
	grads := bp.NewGrads()
	x, y := graphBatch[float64](c, 3, 5)
	bp.Gradients(grads, x, y)
	step, relErr = make([]int, h+1), make([]float64, h+1)
	for l := range relErr {
		relErr[l] = math.Inf(1)
	}
	for steps := 0; steps <= 2*h+2; steps++ {
		_, m := c.build(t, 3)
		net, err := NewGraph(context.Background(), g, m, Config{Variant: Standard, Steps: steps, Gamma: 1, Engine: Sequential})
		require.NoError(t, err)
		_, err = net.Infer(batchCtx(t), x, y)
		require.NoError(t, err)
		for l := range relErr {
			var d2, g2 float64
			for k, u := range net.Updates()[l].Params() {
				for i, v := range u {
					gv := grads[l].Params()[k][i]
					d2, g2 = d2+(v+gv)*(v+gv), g2+gv*gv
				}
			}
			if e := math.Sqrt(d2 / g2); e < relErr[l] {
				step[l], relErr[l] = steps, e
			}
		}
		require.NoError(t, net.Close())
	}
	return step, relErr
}

// TestZeroDivergenceHasNoStepOnLongSkips is the evidence behind Z-IL's refusal of long
// skips (docs/design.md §11). On chains and residual networks Z-IL's dynamics give every
// layer l backprop's update at step H - l (to rounding), which the search below finds;
// on every long-skip graph some layers below the skips' reach match backprop at no step
// T <= 2H+2, by a relative error of 1% or more: a skip's short path moves a node's state,
// and with it its children's predictions, before the long paths' terms of its cotangent
// arrive, so there is no step, per node or otherwise, at which Z-IL's rule is exact.
func TestZeroDivergenceHasNoStepOnLongSkips(t *testing.T) {
	for _, c := range graphShapes {
		t.Run(c.name, func(t *testing.T) {
			step, relErr := closestStep(t, c)
			h := len(step) - 1
			if !c.hasSkips() {
				for l := range step {
					require.Equal(t, h-l, step[l], "layer %d: Z-IL's step", l)
					require.Less(t, relErr[l], 1e-13, "layer %d: relative error at step %d", l, step[l])
				}
				return
			}
			var inexact []string
			for l, e := range relErr {
				if e > 1e-2 {
					inexact = append(inexact, fmt.Sprintf("layer %d: %.3g at T = %d", l, e, step[l]))
				}
			}
			require.NotEmpty(t, inexact, "some layer should match backprop at no step: %v", relErr)
			t.Logf("closest to backprop: %v", inexact)
			// The top layer's update is backprop's at step 0 on every graph.
			require.Zero(t, relErr[h])
		})
	}
}
