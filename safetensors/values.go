package safetensors

import (
	"errors"
	"fmt"
	"math"
)

// Float is the element type of a run: pcnet computes in float64 or float32.
type Float interface {
	float32 | float64
}

// dtypeOf returns the dtype that stores T.
func dtypeOf[T Float]() DType {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return F32
	}
	return F64
}

// NewTensor returns the tensor named name of the given shape that holds data
// in data's own precision: F32 for []float32, F64 for []float64. A float64
// tensor holds data itself; a float32 one holds a float64 copy (see
// [Tensor.Data]). Encode checks the shape against len(data).
func NewTensor[T Float](name string, shape []int, data []T) Tensor {
	t := Tensor{Name: name, Shape: shape, DType: dtypeOf[T]()}
	switch d := any(data).(type) {
	case []float64:
		t.Data = d
	case []float32:
		t.Data = make([]float64, len(d))
		for i, x := range d {
			t.Data[i] = float64(x)
		}
	}
	return t
}

// Values returns t's values as []T, where T must be the element type of t's
// dtype: float64 for F64, float32 for F32. A different T is an error naming
// both, never a conversion, so that a float32 run cannot take a float64
// checkpoint's values (or the reverse) without saying so; convert t.Data
// explicitly for that. For float64 the result is t.Data itself; for float32
// it is a new slice. A tensor whose Data does not match its shape, or an F32
// tensor holding a value float32 would round, is an error too.
func Values[T Float](t *Tensor) ([]T, error) {
	if t == nil {
		return nil, errors.New("safetensors: nil *Tensor")
	}
	want := dtypeOf[T]()
	if got := t.dtype(); got != want {
		if _, ok := dtypeSize(got); !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", t.Name, got)
		}
		return nil, fmt.Errorf("safetensors: tensor %q is %s, the destination is %s (%s)", t.Name, got, typeName(want), want)
	}
	if n, ok := numElements(t.Shape); !ok || uint64(len(t.Data)) != n {
		return nil, fmt.Errorf("safetensors: tensor %q: shape %v does not match its %d values", t.Name, t.Shape, len(t.Data))
	}
	if want == F64 {
		return any(t.Data).([]T), nil
	}
	if i := notFloat32(t.Data); i >= 0 {
		return nil, fmt.Errorf("safetensors: tensor %q is F32 but element %d (%v) is not a float32 value", t.Name, i, t.Data[i])
	}
	out := make([]float32, len(t.Data))
	for i, x := range t.Data {
		out[i] = float32(x)
	}
	return any(out).([]T), nil
}

// typeName is the Go element type that holds a dtype.
func typeName(d DType) string {
	if d == F32 {
		return "float32"
	}
	return "float64"
}

// notFloat32 returns the index of the first value of data that converting to
// float32 would change (bit for bit, so a NaN payload float32 cannot hold
// counts too), or -1.
func notFloat32(data []float64) int {
	for i, x := range data {
		if math.Float64bits(float64(float32(x))) != math.Float64bits(x) {
			return i
		}
	}
	return -1
}
