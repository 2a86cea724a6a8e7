package safetensors

import (
	"math"
	"math/bits"
)

// DType is the element type of a tensor on file.
type DType string

const (
	// F64 is IEEE 754 binary64, little-endian: pcnet's float64 tensors.
	F64 DType = "F64"
	// F32 is IEEE 754 binary32, little-endian: PyTorch's default float32,
	// and pcnet's float32 tensors.
	F32 DType = "F32"
)

// Tensor is one named tensor in row-major order.
type Tensor struct {
	// Name is the tensor's key in the header: non-empty, valid UTF-8 and not
	// "__metadata__".
	Name string
	// Shape lists the dimensions; an empty Shape is a scalar (0-d tensor)
	// holding one value.
	Shape []int
	// DType is the element type on file. The zero value means F64, so that
	// the float64 tensors written before DType existed still encode as they
	// did; Decode always sets it.
	DType DType
	// Data holds the product of Shape's dimensions values. An F32 tensor's
	// values are held as float64 too, each exactly a float32 value (every
	// float32 is a float64, so decoding loses nothing, and Encode refuses a
	// value that F32 would round). [Values] and [NewTensor] convert from and
	// to []float32 with the dtype checked.
	Data []float64
}

// dtype returns t's dtype with the zero value read as F64.
func (t *Tensor) dtype() DType {
	if t.DType == "" {
		return F64
	}
	return t.DType
}

// File is the content of a safetensors file.
type File struct {
	// Metadata is the header's free-form "__metadata__" map. Decode always
	// returns a non-nil map; Encode writes no "__metadata__" entry when it is
	// empty.
	Metadata map[string]string
	// Tensors are the tensors, sorted by name when decoded. Encode accepts
	// them in any order and writes them sorted by name.
	Tensors []Tensor
}

// Get returns the tensor named name, and whether there is one. The pointer
// aliases f.Tensors. Get scans f.Tensors, which is fine for the few hundred
// tensors of a checkpoint; build a map for heavier use.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// metadataKey is the header key of the metadata map, which therefore cannot
// name a tensor.
const metadataKey = "__metadata__"

// MaxHeaderSize bounds the JSON header, as the reference implementation
// does (100 MB).
const MaxHeaderSize = 100_000_000

// dtypeSize returns the size in bytes of an element of the dtype, and
// whether the package supports the dtype.
func dtypeSize(dtype DType) (uint64, bool) {
	switch dtype {
	case F64:
		return 8, true
	case F32:
		return 4, true
	}
	return 0, false
}

// numElements returns the product of dims and whether it is representable:
// no dimension negative and the product times 8 bytes fits in an int64 (so
// that it can size a []float64 and its byte count).
func numElements[T int | uint64](dims []T) (uint64, bool) {
	const maxElements = math.MaxInt64 / 8
	hasZero := false
	for _, d := range dims {
		if d < 0 {
			return 0, false
		}
		hasZero = hasZero || d == 0
	}
	if hasZero {
		// The product is zero however large the other dimensions are;
		// deciding that first keeps [2^62, 2^62, 0] valid.
		return 0, true
	}
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > maxElements {
			return 0, false
		}
		n = lo
	}
	return n, true
}
