// Package tensor is pcnet's matrix: a row-major block of float32 or float64 values that
// the compute core (layer, backprop, pcnet, optim, channels) is written over once, with
// the element type as a type parameter (docs/design.md §1, §11). gonum's mat.Dense, which
// the core used before, is float64 only.
//
// A Matrix is the same four fields as gonum's blas64.General (Rows, Cols, Stride, Data),
// so a product hands its fields to internal/gemm as they are. It offers only what the
// core needs: element and row access, row views that share Data, copying, zeroing and
// conversion between the two precisions. Shape mistakes are programmer errors and panic
// with a message that names both shapes, as gonum's mat does.
package tensor
