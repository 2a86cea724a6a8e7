package render

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Missing is what a table shows for a value that was not measured (NaN).
const Missing = "–"

// Fixed formats v with digits decimals.
func Fixed(v float64, digits int) string {
	if math.IsNaN(v) {
		return Missing
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// Percent formats a fraction as a percentage with one decimal: 0.9712 is "97.1%".
func Percent(v float64) string {
	if math.IsNaN(v) {
		return Missing
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// SignedPercent formats a value that already is a percentage, an overhead or a change,
// with its sign and one decimal: 1.234 is "+1.2%".
func SignedPercent(v float64) string {
	if math.IsNaN(v) {
		return Missing
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// Sig formats v with three significant digits.
func Sig(v float64) string {
	if math.IsNaN(v) {
		return Missing
	}
	return fmt.Sprintf("%.3g", v)
}

// Ratio formats a/b with two decimals, Missing when either is missing or b is 0.
func Ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return Missing
	}
	return fmt.Sprintf("%.2f", a/b)
}

// Nanos formats a time given in nanoseconds, as benchmarks report it, with two or three
// significant digits in the unit that suits it: "850 ns", "4.2 µs", "310 µs", "1.25 ms",
// "42 ms".
func Nanos(ns float64) string {
	if math.IsNaN(ns) {
		return Missing
	}
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 1e7:
		return fmt.Sprintf("%.0f ms", ns/1e6)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.0f µs", ns/1e3)
}

// Duration formats a wall time compactly, without a space: "1.25s", "3.40ms", "870µs".
func Duration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fµs", float64(d)/1e3)
}

// Ints joins integers with spaces: "1 2 4".
func Ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

// Median is the median of v (the mean of the middle two for an even count), the
// summary both the experiments and the benchmark report print for a set of timings; v
// is not changed. It is NaN for no values.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Plural writes a count with its noun, in the singular for one: "1 epoch", "3 epochs".
// The nouns that reach it take a plain -s.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
