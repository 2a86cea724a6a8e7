package tensor

import "fmt"

// Float is the element type of a Matrix: float32 or float64.
// internal/gemm's Float has the same type set.
type Float interface{ float32 | float64 }

// Matrix is a Rows x Cols matrix stored row-major in Data: element (i, j) is
// Data[i*Stride+j], with Stride >= Cols. A Matrix made by New is contiguous
// (Stride == Cols); a view from SliceRows shares its parent's Data and Stride.
type Matrix[T Float] struct {
	Rows, Cols, Stride int
	Data               []T
}

// New returns a rows x cols matrix over data, which it uses, not copies; nil data
// allocates a zero matrix. It panics if rows or cols is below 1 or data is not nil and
// its length is not rows*cols.
func New[T Float](rows, cols int, data []T) *Matrix[T] {
	if rows < 1 || cols < 1 {
		panic(fmt.Sprintf("tensor: New: shape %dx%d, want at least 1x1", rows, cols))
	}
	if data == nil {
		data = make([]T, rows*cols)
	} else if len(data) != rows*cols {
		panic(fmt.Sprintf("tensor: New: %d values for a %dx%d matrix, want %d", len(data), rows, cols, rows*cols))
	}
	return &Matrix[T]{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// Dims returns the number of rows and columns.
func (m *Matrix[T]) Dims() (rows, cols int) { return m.Rows, m.Cols }

// At returns element (i, j). It panics if (i, j) is outside the matrix.
func (m *Matrix[T]) At(i, j int) T {
	m.check("At", i, j)
	return m.Data[i*m.Stride+j]
}

// Set sets element (i, j) to v. It panics if (i, j) is outside the matrix.
func (m *Matrix[T]) Set(i, j int, v T) {
	m.check("Set", i, j)
	m.Data[i*m.Stride+j] = v
}

func (m *Matrix[T]) check(op string, i, j int) {
	if uint(i) >= uint(m.Rows) || uint(j) >= uint(m.Cols) {
		panic(fmt.Sprintf("tensor: %s(%d, %d) outside a %dx%d matrix", op, i, j, m.Rows, m.Cols))
	}
}

// Row returns row i as a slice of length Cols that shares m's memory. It panics if i is
// not in [0, Rows).
func (m *Matrix[T]) Row(i int) []T {
	if uint(i) >= uint(m.Rows) {
		panic(fmt.Sprintf("tensor: Row(%d) outside a %dx%d matrix", i, m.Rows, m.Cols))
	}
	return m.Data[i*m.Stride : i*m.Stride+m.Cols : i*m.Stride+m.Cols]
}

// SliceRows returns rows [i, k) as a (k-i) x Cols view that shares m's memory. It panics
// unless 0 <= i < k <= Rows.
func (m *Matrix[T]) SliceRows(i, k int) *Matrix[T] {
	if i < 0 || k <= i || k > m.Rows {
		panic(fmt.Sprintf("tensor: SliceRows(%d, %d) of a %dx%d matrix, want 0 <= i < k <= %d", i, k, m.Rows, m.Cols, m.Rows))
	}
	end := (k-1)*m.Stride + m.Cols
	return &Matrix[T]{Rows: k - i, Cols: m.Cols, Stride: m.Stride, Data: m.Data[i*m.Stride : end : end]}
}

// Contiguous reports whether the elements fill Data[:Rows*Cols] with no gaps between
// rows, so that an elementwise operation may run over them as one slice.
func (m *Matrix[T]) Contiguous() bool { return m.Stride == m.Cols || m.Rows == 1 }

// Copy copies src's elements into m. It panics unless the shapes agree.
func (m *Matrix[T]) Copy(src *Matrix[T]) {
	if src.Rows != m.Rows || src.Cols != m.Cols {
		panic(fmt.Sprintf("tensor: Copy of a %dx%d matrix into a %dx%d one", src.Rows, src.Cols, m.Rows, m.Cols))
	}
	if m.Contiguous() && src.Contiguous() {
		copy(m.Data[:m.Rows*m.Cols], src.Data[:m.Rows*m.Cols])
		return
	}
	for i := range m.Rows {
		copy(m.Row(i), src.Row(i))
	}
}

// Clone returns a contiguous copy of m.
func (m *Matrix[T]) Clone() *Matrix[T] {
	c := New[T](m.Rows, m.Cols, nil)
	c.Copy(m)
	return c
}

// Zero sets every element to zero.
func (m *Matrix[T]) Zero() {
	if m.Contiguous() {
		clear(m.Data[:m.Rows*m.Cols])
		return
	}
	for i := range m.Rows {
		clear(m.Row(i))
	}
}

// Convert writes src's elements, converted to D, into dst: rounded to nearest when D is
// the narrower type, exact otherwise. It panics unless the shapes agree.
func Convert[D, S Float](dst *Matrix[D], src *Matrix[S]) {
	if src.Rows != dst.Rows || src.Cols != dst.Cols {
		panic(fmt.Sprintf("tensor: Convert of a %dx%d matrix into a %dx%d one", src.Rows, src.Cols, dst.Rows, dst.Cols))
	}
	for i := range dst.Rows {
		d, s := dst.Row(i), src.Row(i)
		for j, v := range s {
			d[j] = D(v)
		}
	}
}

// ConvertSlice writes src's values, converted to D, into dst[:len(src)].
func ConvertSlice[D, S Float](dst []D, src []S) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = D(v)
	}
}

// Equal reports whether a and b have the same shape and equal elements (by ==, so a NaN
// is unequal to everything and +0 equals -0, as gonum's mat.Equal).
func Equal[T Float](a, b *Matrix[T]) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return false
	}
	for i := range a.Rows {
		ra, rb := a.Row(i), b.Row(i)
		for j, v := range ra {
			if v != rb[j] {
				return false
			}
		}
	}
	return true
}
