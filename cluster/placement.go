package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is the contiguous range of nodes [Lo, Hi] one worker hosts.
type Range struct{ Lo, Hi int }

func (r Range) String() string {
	if r.Lo == r.Hi {
		return "node " + strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("nodes %d-%d", r.Lo, r.Hi)
}

// Split divides nodes 0..nodes-1 into workers contiguous ranges as even as possible,
// the larger ones first.
func Split(nodes, workers int) ([]Range, error) {
	if workers < 1 || workers > nodes {
		return nil, fmt.Errorf("cluster: %d workers for %d nodes; need 1 to %d", workers, nodes, nodes)
	}
	var out []Range
	lo := 0
	for i := range workers {
		n := nodes / workers
		if i < nodes%workers {
			n++
		}
		out = append(out, Range{lo, lo + n - 1})
		lo += n
	}
	return out, nil
}

// ParseRange reads "lo-hi" or "l".
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return Range{}, fmt.Errorf("node range %q: want lo-hi with 0 <= lo <= hi", s)
	}
	return Range{lo, hi}, nil
}

// ParsePlacement reads a comma-separated list of ranges ("0-2,3-5") and checks that they
// cover nodes 0..nodes-1 in order.
func ParsePlacement(s string, nodes int) ([]Range, error) {
	var out []Range
	for _, f := range strings.Split(s, ",") {
		r, err := ParseRange(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, checkRanges(out, nodes)
}

func checkRanges(rs []Range, nodes int) error {
	next := 0
	for _, r := range rs {
		if r.Lo != next || r.Hi < r.Lo {
			return fmt.Errorf("cluster: placement %v: ranges must cover nodes 0..%d in order, without gaps or overlaps (expected one from node %d)", rs, nodes-1, next)
		}
		next = r.Hi + 1
	}
	if next != nodes {
		return fmt.Errorf("cluster: placement %v covers nodes 0..%d, the network has nodes 0..%d", rs, next-1, nodes-1)
	}
	return nil
}
