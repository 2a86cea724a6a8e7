package render

import (
	"fmt"
	"strings"
)

// Markdown builds a markdown page. It is a strings.Builder, so fmt.Fprintf writes
// free-form text into it beside the structured helpers.
type Markdown struct{ strings.Builder }

// P writes a paragraph: the formatted text and a blank line.
func (m *Markdown) P(format string, args ...any) {
	fmt.Fprintf(m, format, args...)
	m.WriteString("\n\n")
}

// Table writes a table with a header row and rows of cells already formatted by the
// caller, followed by a blank line.
func (m *Markdown) Table(header []string, rows [][]string) {
	m.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	m.WriteString(strings.Repeat("---|", len(header)))
	m.WriteString("\n")
	for _, r := range rows {
		m.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	m.WriteString("\n")
}

// Image writes a paragraph holding an image.
func (m *Markdown) Image(alt, file string) { m.P("![%s](%s)", alt, file) }

// WriteFile writes the page to path.
func (m *Markdown) WriteFile(path string) error { return WriteFile(path, []byte(m.String())) }
