package graph

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Skip is a long skip From -> To: x_From is added to mu_To (docs/design.md §11).
type Skip struct{ From, To int }

// String writes the skip as the -skips flag does, "1:4".
func (s Skip) String() string { return strconv.Itoa(s.From) + ":" + strconv.Itoa(s.To) }

func compareSkips(a, b Skip) int {
	if c := cmp.Compare(a.From, b.From); c != 0 {
		return c
	}
	return cmp.Compare(a.To, b.To)
}

// FormatSkips writes skips as ParseSkips reads them, "1:4,3:8".
func FormatSkips(skips []Skip) string {
	parts := make([]string, len(skips))
	for k, s := range skips {
		parts[k] = s.String()
	}
	return strings.Join(parts, ",")
}

// ParseSkips reads the -skips flag: comma-separated FROM:TO pairs of node numbers, such as
// "1:4,3:8", spaces around items allowed; "" is no skip. It checks the syntax only, and
// its error names the bad item; New checks the skips against a network.
func ParseSkips(s string) ([]Skip, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	skips := make([]Skip, 0, len(items))
	for k, item := range items {
		sk, err := parseSkip(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("%w %q (item %d of %q): %s", ErrSkipSyntax, item, k+1, s, err)
		}
		skips = append(skips, sk)
	}
	return skips, nil
}

func parseSkip(item string) (Skip, error) {
	from, to, ok := strings.Cut(item, ":")
	if !ok {
		return Skip{}, fmt.Errorf("want FROM:TO")
	}
	i, err := parseNode(from)
	if err != nil {
		return Skip{}, err
	}
	j, err := parseNode(to)
	if err != nil {
		return Skip{}, err
	}
	return Skip{i, j}, nil
}

func parseNode(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a node number (want an integer >= 0)", s)
	}
	return v, nil
}
