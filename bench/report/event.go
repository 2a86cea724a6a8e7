package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/internal/render"
)

// writeEvent writes the event schedule's section from the paired benchmarks in
// bench/schedule_test.go, when the run has them.
func writeEvent(b *render.Markdown, rs results, procs []int) {
	const evp = "BenchmarkEventVsBP/"
	if len(rs.values(evp, "H")) == 0 {
		return
	}
	fmt.Fprintf(b, "## The event schedule\n\n")
	fmt.Fprintf(b, "Under the event schedule (pcnet's default) a node computes only when a message brings news, and skips a product only where its result is known exactly, so it gives the dense schedule's numbers bit for bit (pcnet's tests). Every figure below is the median of a paired benchmark (bench/schedule_test.go): two computations alternate in one loop, and the ratio of their times is steady under a host whose speed drifts.\n\n")

	fmt.Fprintf(b, "### FPA-PC, gamma 1, T = H, against BP\n\nBenchmarkEventVsBP: an FPA-PC update under the event schedule (it computes backprop's 2H + 1 products, counted by pcnet's tests and /metrics) paired with a BP step on the same network, batch 64. Target: PC/BP <= 1.15 on the sequential engine at every H and width, <= 1.3 on the parallel engine at width >= 256.\n\n")
	depths, widths := rs.values(evp, "H"), rs.values(evp, "width")
	for _, p := range procs {
		fmt.Fprintf(b, "**%d core(s)**\n\n", p)
		header := []string{"H"}
		for _, e := range engines {
			for _, w := range widths {
				header = append(header, fmt.Sprintf("%s w%d", e, w))
			}
		}
		var rows [][]string
		for _, h := range depths {
			row := []string{strconv.Itoa(h)}
			for _, e := range engines {
				for _, w := range widths {
					row = append(row, render.Sig(rs.metric(fmt.Sprintf("%sengine=%s/H=%d/width=%d/batch=64", evp, e, h, w), p, "pc/bp")))
				}
			}
			rows = append(rows, row)
		}
		b.Table(header, rows)
		for _, e := range engines {
			worst, bound, minW := 0.0, 1.15, 0
			if e == "parallel" {
				bound, minW = 1.3, 256
			}
			for _, h := range depths {
				for _, w := range widths {
					if w >= minW {
						worst = math.Max(worst, rs.metric(fmt.Sprintf("%sengine=%s/H=%d/width=%d/batch=64", evp, e, h, w), p, "pc/bp"))
					}
				}
			}
			status := "met"
			if worst > bound {
				status = "not met"
			}
			fmt.Fprintf(b, "- %s engine, width >= %d: worst PC/BP %s against <= %g: %s.\n", e, max(minW, widths[0]), render.Sig(worst), bound, status)
		}
		b.WriteString("\n")
	}

	const sv = "BenchmarkScheduleSaving/"
	if len(rs.values(sv, "H")) > 0 {
		fmt.Fprintf(b, "### Event against dense, T = H\n\nBenchmarkScheduleSaving: the same update under both schedules. *measured*: event time / dense time; *counted*: vector-Jacobian products computed under event / under dense (H·T + H + 1); the forward pass, the optimiser step and the elementwise rules, which both schedules do alike, are not in it, so the measured ratio lies above the counted one where the products are cheap. Standard PC and Z-IL skip the H(H-1)/2 input VJPs before the wavefront; FPA-PC with gamma 1 computes 2H + 1; FPA-PC with gamma 0.5 skips those before the wavefront and reuses none after it (its error changes at every step).\n\n")
		for _, p := range procs {
			fmt.Fprintf(b, "**%d core(s)**\n\n", p)
			var rows [][]string
			names := rs.sortedNames(sv)
			// By setting, then H: splitH moves H out of the name.
			sort.SliceStable(names, func(i, j int) bool {
				a, _ := splitH(names[i])
				c, _ := splitH(names[j])
				return a < c
			})
			for _, name := range names {
				if _, ok := rs[key{name, p}]; !ok {
					continue
				}
				setting, h := splitH(strings.TrimPrefix(name, sv))
				rows = append(rows, []string{setting, h, render.Sig(rs.metric(name, p, "event/dense")), render.Sig(rs.metric(name, p, "counted-event/dense"))})
			}
			b.Table([]string{"setting", "H", "measured", "counted"}, rows)
		}
	}

	metricTable(b, rs, procs, "BenchmarkSkipOverhead/", "event/dense", "### What the bookkeeping costs\n\nBenchmarkSkipOverhead: event time / dense time where nothing is skipped after the feed-forward pass (standard PC, H = 1, T = 1), and at T = 0, where the event schedule still skips the weight VJPs of the layers below the top (their cotangent is zero at step 0, Theorem 1).\n\n")
	metricTable(b, rs, procs, "BenchmarkStraggler/", "delays/op", "### A straggler\n\nBenchmarkStraggler: the products of layer H/2 made slower by a fixed delay (internal/straggler, a benchmark hook), FPA-PC, gamma 1, H = T = 8, width 64. *delays/op*: how many delays the update grew by, (slow - fast) / delay, paired. The dense schedule computes that layer's input VJP at every step, so the slow layer sets every step's pace (the paper's point): about T + 1 = 9 delays, fewer on the parallel engine where other layers' work overlaps the delay. The event schedule computes it once, plus the weight VJP: about 2.\n\n")
}

// metricTable writes intro and a table of one metric's medians, a row per benchmark
// with the prefix and a column per core count, when the run has any.
func metricTable(b *render.Markdown, rs results, procs []int, prefix, metric, intro string) {
	names := rs.sortedNames(prefix)
	if len(names) == 0 {
		return
	}
	b.WriteString(intro)
	header := []string{"setting"}
	for _, p := range procs {
		header = append(header, fmt.Sprintf("%d core(s)", p))
	}
	var rows [][]string
	for _, name := range names {
		row := []string{strings.TrimPrefix(name, prefix)}
		for _, p := range procs {
			row = append(row, render.Sig(rs.metric(name, p, metric)))
		}
		rows = append(rows, row)
	}
	b.Table(header, rows)
}

// sortedNames lists the distinct benchmark names with a prefix, sorted.
func (rs results) sortedNames(prefix string) []string {
	seen := map[string]bool{}
	var out []string
	for k := range rs {
		if strings.HasPrefix(k.name, prefix) && !seen[k.name] {
			seen[k.name] = true
			out = append(out, k.name)
		}
	}
	sortNatural(out)
	return out
}

// splitH splits "a/b/H=4/c" into "a/b/c" and "4".
func splitH(name string) (rest, h string) {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		if v, ok := strings.CutPrefix(p, "H="); ok {
			h = v
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), h
}

// sortNatural sorts benchmark names level by level, numbers ("H=16") by value.
func sortNatural(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, b := strings.Split(names[i], "/"), strings.Split(names[j], "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			ka, va, _ := strings.Cut(a[k], "=")
			kb, vb, _ := strings.Cut(b[k], "=")
			na, ea := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(va, "ms"), "µs"), 64)
			nb, eb := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(vb, "ms"), "µs"), 64)
			if ka == kb && ea == nil && eb == nil && !strings.HasSuffix(va, "s") && !strings.HasSuffix(vb, "s") {
				return na < nb
			}
			return a[k] < b[k]
		}
		return len(a) < len(b)
	})
}
