package train

import (
	"fmt"
	"math"
	"runtime"
	"strings"
)

// ChanceMargin is how far above chance (1/classes) a validation accuracy still counts as
// chance in Warning: 5 percentage points, a margin that a network which learns anything
// clears within its first epoch (the default network reaches over 80%), while one stuck
// at chance on MNIST reads 9-11%.
const ChanceMargin = 0.05

// MinLayerCosine returns the 1-based layer l (the weights W_l into node l) with the
// smallest mean cosine to backprop's update, and that cosine; 0 and NaN when cos is
// empty. A layer can point away from backprop's update while the overall cosine, which
// the largest layer dominates, reads 0.99998.
func MinLayerCosine(cos []float64) (int, float64) {
	at, v := 0, math.NaN()
	for l, c := range cos {
		if at == 0 || c < v {
			at, v = l+1, c
		}
	}
	return at, v
}

// CosineNote is what the epoch line adds after the overall cosine: the minimum over the
// layers with its layer, " (min 0.12 at layer 1)"; "" when the epoch compared nothing.
func CosineNote(e EpochInfo) string {
	at, v := MinLayerCosine(e.MeanLayerCosine)
	if at == 0 {
		return ""
	}
	return fmt.Sprintf(" (min %.5f at layer %d)", v, at)
}

// Warning returns the one-line warning an epoch deserves, "" when none: the validation
// accuracy is at chance (<= 1/classes + ChanceMargin), or a layer's mean cosine to
// backprop's update is below 0 (the layer learns against the gradient).
func Warning(e EpochInfo, classes int) string {
	var why []string
	if classes > 0 && e.ValAccuracy <= 1/float64(classes)+ChanceMargin {
		why = append(why, fmt.Sprintf("validation accuracy %.2f%% is at chance (<= %.0f%% for %d classes): the network does not learn",
			100*e.ValAccuracy, 100*(1/float64(classes)+ChanceMargin), classes))
	}
	if at, v := MinLayerCosine(e.MeanLayerCosine); at > 0 && v < 0 {
		why = append(why, fmt.Sprintf("layer %d's update points away from backprop's (cosine %.2f)", at, v))
	}
	if len(why) == 0 {
		return ""
	}
	return "warning: " + strings.Join(why, "; ")
}

// TimeNote is the epoch line's timing: the learner's steps on engine and backprop's
// whole steps (forward, backward and optimiser) on the compared batches, with the core
// count (GOMAXPROCS) they ran on, e.g. "PC steps 9.3s on the parallel engine, BP steps
// 3.1s on the 86 compared batches, 2 cores".
func TimeNote(e EpochInfo, engine string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PC steps %s on the %s engine", Seconds(e.StepTime), engine)
	if e.Compared > 0 {
		fmt.Fprintf(&b, ", BP steps %s on the %d compared batches", Seconds(e.BPTime), e.Compared)
	}
	fmt.Fprintf(&b, ", %d cores", runtime.GOMAXPROCS(0))
	return b.String()
}
