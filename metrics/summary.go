package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pcnet/pcnet/pcnet"
)

// DistanceSummary is what the hidden nodes at one distance did in the inferences since
// the previous call of Summary.
type DistanceSummary struct {
	Variant  pcnet.Variant
	Distance int
	// Inferences counts node-inferences: one per inference per node at this distance.
	Inferences int
	// FirstNonzero is the mean step at which the error first became non-zero, over the
	// node-inferences it did (NaN if none); Theorem 1 says it equals Distance.
	FirstNonzero float64
	// Convergence is the mean convergence step over the node-inferences that converged
	// (NaN if none).
	Convergence float64
	Unreached   int // node-inferences whose error stayed zero
	Unconverged int // node-inferences whose error still moved at the last step
}

// Summary is one row per variant and distance, ordered by variant and then distance.
type Summary []DistanceSummary

// Summary returns the means of the first non-zero and convergence steps per variant and
// distance since the previous call, and starts a new period. Rows with no inference in
// the period are left out. It is safe to call while networks run; a batch in flight may
// land in either period, node by node.
func (m *Metrics) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out Summary
	for k, t := range m.distances {
		t.mu.Lock()
		c := t.c
		t.c = tallyCounts{}
		t.mu.Unlock()
		if c.inferences == 0 {
			continue
		}
		out = append(out, DistanceSummary{
			Variant:      k.variant,
			Distance:     k.distance,
			Inferences:   c.inferences,
			FirstNonzero: mean(c.sumFirstNonzero, c.reached),
			Convergence:  mean(c.sumConvergence, c.converged),
			Unreached:    c.unreached,
			Unconverged:  c.unconverged,
		})
	}
	slices.SortFunc(out, func(a, b DistanceSummary) int {
		return cmp.Or(cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Distance, b.Distance))
	})
	return out
}

func mean(sum, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(sum) / float64(n)
}

// String formats the summary as an aligned table, one row per variant and distance.
func (s Summary) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "variant\tdistance\tinferences\tfirst nonzero\tconverged at\tunconverged\tunreached")
	for _, r := range s {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%d\t%d\n", r.Variant, r.Distance, r.Inferences,
			formatStep(r.FirstNonzero), formatStep(r.Convergence), r.Unconverged, r.Unreached)
	}
	w.Flush()
	return b.String()
}

func formatStep(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}
