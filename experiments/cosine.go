package experiments

import (
	"context"
	"fmt"
	"math"
)

// Tolerances of the cosine claims.
const (
	// exactCosineTol: FPA-PC with gamma = 1 and T >= H computes BP's update, so its cosine
	// is 1 up to rounding.
	exactCosineTol = 1e-9
	// visibleDrop: below T = H the cosine must be lower than 1 by at least this much.
	visibleDrop = 1e-3
	// riseSlack: how far a mean cosine may fall from one T/H to the next and still count
	// as rising (the points train along different trajectories).
	riseSlack = 5e-3
)

// cosineAtInit is the cosine of the first compared batch: at the initial weights, which
// every point of one H shares, so that it compares the algorithms on the same weights.
// The first-epoch mean compares them along their own training trajectories.
func (r *pointResult) cosineAtInit() float64 {
	if len(r.Cosine) == 0 {
		return math.NaN()
	}
	return float64(r.Cosine[0])
}

// cosineChecks sets the paper's cosine claims against the grid.
func cosineChecks(g *gridResults) []check {
	p := g.preset
	ratios := ratiosOf(p)
	exact := check{Claim: fmt.Sprintf("gamma = 1, T >= H: the FPA-PC update is BP's (cosine 1 within %g at every batch)", exactCosineTol), OK: true}
	drop := check{Claim: fmt.Sprintf("gamma = 1, T < H: the cosine is visibly below 1 (first-epoch mean lower by more than %g)", visibleDrop), OK: true}
	below := check{Claim: "gamma < 1: the cosine stays below 1 at T = H (every batch)", OK: true}
	worstExact, worstExactAt := math.Inf(1), ""
	worstDrop, worstDropAt := math.Inf(-1), ""
	worstBelow, worstBelowAt := math.Inf(-1), ""
	hasGamma1 := false
	for _, h := range p.Hidden {
		for _, gm := range p.Gammas {
			hasGamma1 = hasGamma1 || gm == 1
			for _, r := range ratios {
				pt := g.point(h, gm, r)
				if pt == nil || pt.Diverged != "" {
					continue
				}
				mean, lo, hi := pt.cosineStats()
				at := fmt.Sprintf("H=%d gamma=%g T/H=%g", h, gm, r)
				switch {
				case gm == 1 && r >= 1:
					if lo < worstExact {
						worstExact, worstExactAt = lo, at
					}
					exact.OK = exact.OK && lo >= 1-exactCosineTol
				case gm == 1:
					if mean > worstDrop {
						worstDrop, worstDropAt = mean, at
					}
					drop.OK = drop.OK && mean <= 1-visibleDrop
				case r == 1:
					if hi > worstBelow {
						worstBelow, worstBelowAt = hi, at
					}
					below.OK = below.OK && hi < 1-exactCosineTol
				}
			}
		}
	}
	exact.Detail = fmt.Sprintf("lowest cosine of any batch: 1 - %.1e (%s)", 1-worstExact, worstExactAt)
	drop.Detail = fmt.Sprintf("highest mean cosine: %.6f (%s)", worstDrop, worstDropAt)
	below.Detail = fmt.Sprintf("highest cosine of any batch: %.6f (%s)", worstBelow, worstBelowAt)
	riseInit := riseCheck(g, "gamma < 1: the cosine rises with T/H, at the same weights (initialisation, first batch)",
		(*pointResult).cosineAtInit, 0)
	riseMean := riseCheck(g, "gamma < 1: the cosine rises with T/H, as the first-epoch mean along each run's own training",
		func(r *pointResult) float64 { m, _, _ := r.cosineStats(); return m }, riseSlack)
	if !hasGamma1 {
		return []check{below, riseInit, riseMean}
	}
	return []check{exact, drop, below, riseInit, riseMean}
}

// riseCheck checks that get never falls by more than slack from one T/H to the next and
// ends higher than it starts, for every H and gamma < 1.
func riseCheck(g *gridResults, claim string, get func(*pointResult) float64, slack float64) check {
	c := check{Claim: claim, OK: true}
	var fails []string
	for _, h := range g.preset.Hidden {
		for _, gm := range g.preset.Gammas {
			if gm == 1 {
				continue
			}
			var vals []float64
			var rs []float64
			for _, r := range ratiosOf(g.preset) {
				if pt := g.point(h, gm, r); pt != nil && pt.Diverged == "" {
					vals, rs = append(vals, get(pt)), append(rs, r)
				}
			}
			for i := 1; i < len(vals); i++ {
				if vals[i] < vals[i-1]-slack {
					fails = append(fails, fmt.Sprintf("H=%d gamma=%g: %.4f at T/H=%g after %.4f at %g", h, gm, vals[i], rs[i], vals[i-1], rs[i-1]))
				}
			}
			if len(vals) > 1 && !(vals[len(vals)-1] > vals[0]) {
				fails = append(fails, fmt.Sprintf("H=%d gamma=%g: no higher at T/H=%g than at %g", h, gm, rs[len(rs)-1], rs[0]))
			}
		}
	}
	c.OK = len(fails) == 0
	c.Detail = summaryOr(fmt.Sprintf("never falls (by more than %g) from one T/H to the next and ends higher, for every H and gamma < 1", slack), fails)
	return c
}

// cosineExperiment is the paper's Figure 3 on the shared training grid.
type cosineExperiment struct{}

func (cosineExperiment) name() string { return "cosine" }

func (cosineExperiment) describe() string {
	return "Figure 3: cosine of FPA-PC's update to BP's, against T/H and gamma"
}

func (cosineExperiment) run(ctx context.Context, env *runEnv) (*report, error) {
	return stages[*gridResults]{measureGrid, cosineChecks, writeCosine, cosineSection}.run(ctx, env)
}
