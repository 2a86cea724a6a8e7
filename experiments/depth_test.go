package experiments

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/pcnet"
)

// handDepth is a depth result made by hand: one tutorial seed whose curve is jpc's shifted
// by offset points, one μPC sweep run at H = 2 with the given first non-zero steps and
// zero-update counts, and one long-skip run with the given measured and predicted steps.
func handDepth(offset float64, first []int, zero []int, skipGot, skipRule []int) *depthResults {
	p := fullDepth()
	p.TutorialSeeds, p.SweepHidden = 1, []int{2}
	tut := &depthResult{}
	for k, v := range jpcCurve {
		tut.Test = append(tut.Test, depthPoint{Iter: 100 * (k + 1), Accuracy: num((v + offset) / 100)})
	}
	sweep := &depthResult{Spec: depthSpec{Method: methodMuPC, Hidden: 2}, FirstNonzero: first, Rule: []int{-1, 2, 1, 0},
		Zero: zero, Compared: 4, NormRatio: nums([]float64{0, 0.5, 1})}
	sk := &skipRun{skipCase: skipCase{pcnet.Standard, 0.5}, graph: skipGraph{Hidden: 3, Skips: "1:3"}, dataset: "mnist",
		firstMin: skipGot, firstMax: skipGot, rule: skipRule}
	return &depthResults{preset: p, tutorial: []*depthResult{tut},
		sweep: map[depthKey]*depthResult{{methodMuPC, 2}: sweep}, skips: []*skipRun{sk}}
}

// TestDepthClaims pins the depth claims by hand: the tutorial's 1.5 points, the rule's
// bound on the sweep, the rule's identity on the long skips (a planted wrong rule fails)
// and which layers learn.
func TestDepthClaims(t *testing.T) {
	good := func() (first, zero, got, rule []int) {
		return []int{-1, 2, 1, 0}, []int{0, 0, 0}, []int{2, 2, 1}, []int{2, 2, 1}
	}
	cases := []struct {
		name   string
		offset float64
		edit   func(first, zero, got, rule []int)
		claim  string
		ok     bool
	}{
		{"within 1.5 points", 1.4, nil, "jpc's μPC tutorial", true},
		{"1.6 points below", -1.6, nil, "jpc's μPC tutorial", false},
		{"rule bound", 0, nil, "graph-distance rule, bound", true},
		{"a node early", 0, func(first, _, _, _ []int) { first[1] = 1 }, "graph-distance rule, bound", false},
		{"a node late is no breach of the bound", 0, func(first, _, _, _ []int) { first[1] = 5 }, "graph-distance rule, bound", true},
		{"never reached is no breach", 0, func(first, _, _, _ []int) { first[1] = -1 }, "graph-distance rule, bound", true},
		{"skips: the rule", 0, nil, "graph-distance rule, identity", true},
		{"skips: a wrong rule", 0, func(_, _, _, rule []int) { rule[0] = 3 }, "graph-distance rule, identity", false},
		{"skips move the wave", 0, nil, "long skips bring", true},
		{"skips that move nothing", 0, func(_, _, got, _ []int) { copy(got, []int{3, 2, 1}) }, "long skips bring", false},
		{"every layer learns", 0, nil, "every weight layer of μPC", true},
		{"a layer never updated", 0, func(_, zero, _, _ []int) { zero[0] = 4 }, "every weight layer of μPC", false},
		{"a layer zero on some batches", 0, func(_, zero, _, _ []int) { zero[0] = 3 }, "every weight layer of μPC", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first, zero, got, rule := good()
			if c.edit != nil {
				c.edit(first, zero, got, rule)
			}
			ch := find(t, depthChecks(handDepth(c.offset, first, zero, got, rule)), c.claim)
			require.Equal(t, c.ok, ch.OK, "%s: %s", ch.Claim, ch.Detail)
		})
	}
}

// TestDepthSpecs checks the networks the preset asks for: the tutorial's seeds at jpc's
// setting (T = L = H+1, Adam 0.1), and every method at every depth of the sweep with the
// learning rate of its parameterisation.
func TestDepthSpecs(t *testing.T) {
	p := fullDepth()
	tut, sweep := depthSpecs(p, 7, 55000, 10000, "mnist")
	require.Len(t, tut, 3)
	for i, s := range tut {
		require.Equal(t, depthSpec{Version: depthCacheVersion, Method: methodMuPC, Dataset: "mnist", Hidden: 29, Width: 128, Batch: 64,
			Eta: 0.5, Steps: 30, LR: 0.1, Seed: 7 + uint64(i), Iters: 900, TestEvery: 100, TrainN: 55000, TestN: 10000}, s)
	}
	require.Len(t, sweep, len(p.SweepHidden)*len(depthMethods))
	for _, s := range sweep {
		require.Equal(t, 55000/64, s.Iters, "one epoch")
		switch s.Method {
		case methodBP:
			require.Equal(t, 0.1, s.LR)
			require.Zero(t, s.Steps)
		case methodMuPC:
			require.Equal(t, 0.1, s.LR)
			require.Equal(t, s.Hidden+1, s.Steps)
		default:
			require.Equal(t, 1e-3, s.LR)
			require.Equal(t, s.Hidden+1, s.Steps)
		}
	}
}
