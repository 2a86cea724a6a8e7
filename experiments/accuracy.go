package experiments

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/pcnet/pcnet/internal/render"
)

const (
	// sameAccuracyTol: FPA-PC with gamma = 1 and T >= H takes BP's steps up to rounding,
	// so after the same epochs its accuracy equals BP's within a few examples.
	sameAccuracyTol = 0.005
	// learnsAccuracy: an H at which BP's test accuracy stays below this did not learn in
	// the epochs given, and says nothing about FPA-PC's losses.
	learnsAccuracy = 0.5
)

// accuracyChecks sets the paper's accuracy claims against the grid.
func accuracyChecks(g *gridResults) []check {
	p := g.preset
	same := check{Claim: fmt.Sprintf("gamma = 1, T >= H: FPA-PC reaches BP's test accuracy (within %g)", sameAccuracyTol), OK: true}
	drops := check{Claim: "gamma = 1: test accuracy drops when T < H (at every H where BP learns)", OK: true}
	worst, worstAt := -1.0, ""
	var dropNotes, noLearn []string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		bpTest := float64(bp.Test)
		if !(bpTest > learnsAccuracy) {
			noLearn = append(noLearn, fmt.Sprintf("H=%d (BP %s)", h, render.Percent(bpTest)))
		}
		atH := math.NaN()
		bestBelow := math.Inf(-1)
		for _, r := range ratiosOf(p) {
			pt := g.point(h, 1, r)
			if pt == nil {
				continue
			}
			t := float64(pt.Test)
			if r >= 1 {
				if d := math.Abs(t - bpTest); !(d <= worst) {
					worst, worstAt = d, fmt.Sprintf("H=%d T/H=%g: %s vs BP %s", h, r, render.Percent(t), render.Percent(bpTest))
				}
				if !(math.Abs(t-bpTest) <= sameAccuracyTol) {
					same.OK = false
				}
				if r == 1 {
					atH = t
				}
			} else {
				bestBelow = math.Max(bestBelow, t)
			}
		}
		if bpTest > learnsAccuracy && !math.IsNaN(atH) && !math.IsInf(bestBelow, 0) {
			dropNotes = append(dropNotes, fmt.Sprintf("H=%d: best below T=H %s, at T=H %s", h, render.Percent(bestBelow), render.Percent(atH)))
			if !(bestBelow < atH) {
				drops.OK = false
			}
		}
	}
	same.Detail = fmt.Sprintf("largest difference: %s", worstAt)
	drops.Detail = strings.Join(dropNotes, "; ")
	if len(noLearn) > 0 {
		drops.Detail += fmt.Sprintf("; not judged where BP itself stayed below %s after %s: %s", render.Percent(learnsAccuracy), render.Plural(p.Epochs, "epoch"), strings.Join(noLearn, ", "))
	}
	small := check{Claim: "gamma < 1, T = H: test accuracy below BP's (at every H where BP learns)", OK: true}
	var smallNotes []string
	for _, h := range p.Hidden {
		bpTest := float64(g.bp[h].Test)
		if !(bpTest > learnsAccuracy) {
			continue
		}
		best, bestAt := math.Inf(-1), 0.0
		for _, gm := range p.Gammas {
			if pt := g.point(h, gm, 1); gm < 1 && pt != nil && float64(pt.Test) > best {
				best, bestAt = float64(pt.Test), gm
			}
		}
		if math.IsInf(best, 0) {
			continue
		}
		smallNotes = append(smallNotes, fmt.Sprintf("H=%d: best %s (gamma=%g) vs BP %s", h, render.Percent(best), bestAt, render.Percent(bpTest)))
		small.OK = small.OK && best < bpTest
	}
	small.Detail = strings.Join(smallNotes, "; ")
	if p.BPMaxEpochs <= p.Epochs {
		return []check{same, drops, small}
	}
	bpRef := check{Claim: fmt.Sprintf("BP reference reaches %s validation accuracy (at most %s)", render.Percent(p.BPTarget), render.Plural(p.BPMaxEpochs, "epoch")), OK: true}
	var notes []string
	for _, h := range p.Hidden {
		bp := g.bp[h]
		if bp.TargetEpoch > 0 {
			notes = append(notes, fmt.Sprintf("H=%d after %s", h, render.Plural(bp.TargetEpoch, "epoch")))
		} else {
			bpRef.OK = false
			notes = append(notes, fmt.Sprintf("H=%d not in %s (%s)", h, render.Plural(bp.FinalEpochs, "epoch"), render.Percent(float64(bp.FinalVal))))
		}
	}
	bpRef.Detail = strings.Join(notes, "; ")
	return []check{same, drops, small, bpRef}
}

// accuracyExperiment is the paper's Figures 4 and 5 on the shared training grid.
type accuracyExperiment struct{}

func (accuracyExperiment) name() string { return "accuracy" }

func (accuracyExperiment) describe() string {
	return "Figures 4 and 5: validation and test accuracy of FPA-PC against BP"
}

func (accuracyExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*gridResults]{measureGrid, accuracyChecks, writeAccuracy, accuracySection}.run(ctx, env)
}
