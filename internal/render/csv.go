package render

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// Table is a CSV file under construction: a header and rows of formatted cells.
type Table struct {
	header []string
	rows   [][]string
	err    error // the first row whose width did not match the header
}

// NewTable starts a table with the given column names.
func NewTable(header ...string) *Table { return &Table{header: header} }

// Add appends a row, formatting each cell with Cell. A row of the wrong width is a bug
// of the caller; it is kept out of the table and reported by CSV and WriteFile, so that
// a run fails with one line instead of writing a file with shifted columns.
func (t *Table) Add(cells ...any) {
	if len(cells) != len(t.header) {
		if t.err == nil {
			t.err = fmt.Errorf("table row %d has %d cells for %d columns %v", len(t.rows)+1, len(cells), len(t.header), t.header)
		}
		return
	}
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Cell(c)
	}
	t.rows = append(t.rows, row)
}

// Cell formats one CSV cell: a floating-point number (of any type whose underlying type
// is float64) in its shortest exact form and NaN as an empty cell, so that a value reads
// back bit for bit and a missing one is visibly missing; everything else with %v.
func Cell(c any) string {
	switch v := c.(type) {
	case float64:
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	if v := reflect.ValueOf(c); v.IsValid() && v.Kind() == reflect.Float64 {
		return Cell(v.Float())
	}
	return fmt.Sprint(c)
}

// CSV encodes the table.
func (t *Table) CSV() ([]byte, error) {
	if t.err != nil {
		return nil, t.err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(t.header); err != nil {
		return nil, err
	}
	if err := w.WriteAll(t.rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile writes the table to path as CSV.
func (t *Table) WriteFile(path string) error {
	b, err := t.CSV()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFile(path, b)
}
