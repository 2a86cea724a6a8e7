package layer

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Tile sizes of the products. gonum's Dgemm goes parallel once the output holds four or
// more 64x64 blocks; a tile of 64 rows by 192 columns holds three, so every tile runs on
// the calling goroutine. The layer goroutines of the pcnet engine supply the parallelism.
const (
	tileRows = 64
	tileCols = 192
)

// gemm computes C = alpha * op(A) op(B) + beta * C tile by tile on the calling goroutine.
// op(X) is X or Xᵀ as tA and tB say.
func gemm(tA, tB blas.Transpose, alpha float64, a, b blas64.General, beta float64, c blas64.General) {
	for i := 0; i < c.Rows; i += tileRows {
		m := min(tileRows, c.Rows-i)
		at := a
		if tA == blas.NoTrans {
			at.Rows, at.Data = m, a.Data[i*a.Stride:]
		} else {
			at.Cols, at.Data = m, a.Data[i:]
		}
		for j := 0; j < c.Cols; j += tileCols {
			n := min(tileCols, c.Cols-j)
			bt := b
			if tB == blas.NoTrans {
				bt.Cols, bt.Data = n, b.Data[j:]
			} else {
				bt.Rows, bt.Data = n, b.Data[j*b.Stride:]
			}
			ct := blas64.General{Rows: m, Cols: n, Stride: c.Stride, Data: c.Data[i*c.Stride+j:]}
			blas64.Gemm(tA, tB, alpha, at, bt, beta, ct)
		}
	}
}

func raw(m *mat.Dense) blas64.General { return m.RawMatrix() }
