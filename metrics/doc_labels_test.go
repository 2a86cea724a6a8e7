package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// capture is a Registerer that keeps what is registered with it.
type capture struct{ cs []prometheus.Collector }

func (c *capture) Register(col prometheus.Collector) error   { c.cs = append(c.cs, col); return nil }
func (c *capture) MustRegister(cols ...prometheus.Collector) { c.cs = append(c.cs, cols...) }
func (c *capture) Unregister(prometheus.Collector) bool      { return false }

var (
	// A series in the package doc's list: "//\tname{label,label}   what".
	docSeries = regexp.MustCompile(`(?m)^//\t(pcnet_\w+)(?:\{([^}]*)\})?\s`)
	// What Desc.String says of a series' name and labels.
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

func labelSet(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.Split(s, ",")
	slices.Sort(l)
	return l
}

// go doc ./metrics is where a dashboard author looks up a series' labels, so its list
// must name every series with exactly the labels it carries.
func TestDocListsEverySeriesWithItsLabels(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	documented := map[string][]string{}
	for _, m := range docSeries.FindAllStringSubmatch(string(src), -1) {
		documented[m[1]] = labelSet(m[2])
	}
	require.NotEmpty(t, documented)

	var c capture
	_, err = New(&c, Options{SkipGoAndProcessCollectors: true})
	require.NoError(t, err)
	registered := map[string][]string{}
	for _, col := range c.cs {
		ch := make(chan *prometheus.Desc, 16)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			name, labels := descName.FindStringSubmatch(s), descLabels.FindStringSubmatch(s)
			require.NotNil(t, name, s)
			require.NotNil(t, labels, s)
			registered[name[1]] = labelSet(labels[1])
		}
	}
	require.NotEmpty(t, registered)
	for name, labels := range registered {
		got, ok := documented[name]
		require.True(t, ok, "doc.go does not list %s", name)
		require.Equal(t, labels, got, "doc.go lists %s with other labels than it has", name)
	}
	for name := range documented {
		require.Contains(t, registered, name, "doc.go lists %s, which New does not register", name)
	}
}
