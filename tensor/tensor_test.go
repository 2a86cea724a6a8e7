package tensor_test

import (
	"math"
	"testing"

	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

func TestNewAndAccess(t *testing.T) {
	m := tensor.New[float64](2, 3, []float64{1, 2, 3, 4, 5, 6})
	r, c := m.Dims()
	require.Equal(t, [2]int{2, 3}, [2]int{r, c})
	require.Equal(t, 6.0, m.At(1, 2))
	m.Set(0, 1, 9)
	require.Equal(t, []float64{1, 9, 3}, m.Row(0))
	require.Equal(t, []float64{4, 5, 6}, m.Row(1))
	require.Len(t, tensor.New[float32](4, 5, nil).Data, 20)
}

func TestPanics(t *testing.T) {
	m := tensor.New[float32](2, 3, nil)
	for _, tc := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"zero rows", func() { tensor.New[float64](0, 3, nil) }, "tensor: New: shape 0x3, want at least 1x1"},
		{"short data", func() { tensor.New(2, 2, []float64{1}) }, "tensor: New: 1 values for a 2x2 matrix, want 4"},
		{"at", func() { m.At(2, 0) }, "tensor: At(2, 0) outside a 2x3 matrix"},
		{"set", func() { m.Set(0, 3, 1) }, "tensor: Set(0, 3) outside a 2x3 matrix"},
		{"row", func() { m.Row(-1) }, "tensor: Row(-1) outside a 2x3 matrix"},
		{"slice", func() { m.SliceRows(1, 1) }, "tensor: SliceRows(1, 1) of a 2x3 matrix, want 0 <= i < k <= 2"},
		{"copy", func() { m.Copy(tensor.New[float32](3, 2, nil)) }, "tensor: Copy of a 3x2 matrix into a 2x3 one"},
		{"convert", func() { tensor.Convert(m, tensor.New[float64](1, 3, nil)) }, "tensor: Convert of a 1x3 matrix into a 2x3 one"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.PanicsWithValue(t, tc.msg, tc.f) })
	}
}

func TestViews(t *testing.T) {
	m := tensor.New[float64](4, 2, []float64{0, 1, 2, 3, 4, 5, 6, 7})
	v := m.SliceRows(1, 3)
	require.Equal(t, 2, v.Rows)
	require.Equal(t, []float64{4, 5}, v.Row(1))
	v.Set(0, 0, -1)
	require.Equal(t, -1.0, m.At(1, 0), "a view shares its parent's memory")
	require.Len(t, v.Data, 4, "a view ends at its last element")

	// A strided view: copy, zero and clone touch only its own elements.
	s := &tensor.Matrix[float64]{Rows: 2, Cols: 1, Stride: 2, Data: m.Data[:3]}
	require.False(t, s.Contiguous())
	c := s.Clone()
	require.Equal(t, []float64{0, -1}, c.Data)
	s.Zero()
	require.Equal(t, []float64{0, 1, 0, 3}, m.Data[:4])
	s.Copy(tensor.New(2, 1, []float64{8, 9}))
	require.Equal(t, []float64{8, 1, 9, 3}, m.Data[:4])
}

func TestConvert(t *testing.T) {
	src := tensor.New(1, 3, []float64{1.0 / 3, math.Inf(-1), 1e-50})
	dst := tensor.New[float32](1, 3, nil)
	tensor.Convert(dst, src)
	require.Equal(t, []float32{1.0 / 3, float32(math.Inf(-1)), 0}, dst.Data)
	back := tensor.New[float64](1, 3, nil)
	tensor.Convert(back, dst)
	require.Equal(t, float64(float32(1.0/3)), back.At(0, 0), "widening is exact")
}

func TestEqual(t *testing.T) {
	a := tensor.New(2, 2, []float64{1, 2, 3, 4})
	require.True(t, tensor.Equal(a, a.Clone()))
	require.True(t, tensor.Equal(a.SliceRows(1, 2), tensor.New(1, 2, []float64{3, 4})))
	require.False(t, tensor.Equal(a, tensor.New(2, 2, []float64{1, 2, 3, 5})))
	require.False(t, tensor.Equal(a, tensor.New(1, 4, []float64{1, 2, 3, 4})))
	require.False(t, tensor.Equal(tensor.New(1, 1, []float64{math.NaN()}), tensor.New(1, 1, []float64{math.NaN()})))
}
