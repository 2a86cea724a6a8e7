package layer

import "fmt"

// ShapeError reports two shapes that do not fit together.
type ShapeError struct {
	Op        string // the operation, e.g. "Dense.Forward"
	What      string // what was being matched, e.g. "input"
	Got, Want [2]int
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("layer: %s: %s is %dx%d, want %dx%d", e.Op, e.What, e.Got[0], e.Got[1], e.Want[0], e.Want[1])
}

type dims interface{ Dims() (int, int) }

// mustShape panics with a *ShapeError unless m is rows x cols.
func mustShape(op, what string, m dims, rows, cols int) {
	r, c := m.Dims()
	if r != rows || c != cols {
		panic(&ShapeError{Op: op, What: what, Got: [2]int{r, c}, Want: [2]int{rows, cols}})
	}
}

// mustLen panics with a *ShapeError unless a vector's length n is want (a vector is
// reported as a column).
func mustLen(op, what string, n, want int) {
	if n != want {
		panic(&ShapeError{Op: op, What: what, Got: [2]int{n, 1}, Want: [2]int{want, 1}})
	}
}
