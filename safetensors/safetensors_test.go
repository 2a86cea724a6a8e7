package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawFile assembles a safetensors file from a header and raw data, without
// any of the package's checks, for building corrupt inputs.
func rawFile(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func f64Bytes(vals ...float64) []byte {
	var out []byte
	for _, v := range vals {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
	}
	return out
}

// requireSameFile compares files bit for bit (so NaNs compare equal to
// themselves and -0 differs from 0).
func requireSameFile(t *testing.T, want, got *File) {
	t.Helper()
	wantMeta := want.Metadata
	if wantMeta == nil {
		wantMeta = map[string]string{}
	}
	require.Equal(t, wantMeta, got.Metadata)
	sorted := slices.Clone(want.Tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	require.Len(t, got.Tensors, len(sorted))
	for i, w := range sorted {
		g := got.Tensors[i]
		require.Equal(t, w.Name, g.Name)
		require.Equal(t, w.dtype(), g.DType, "tensor %q dtype", w.Name)
		require.Equal(t, len(w.Shape), len(g.Shape), "tensor %q shape", w.Name)
		if len(w.Shape) > 0 {
			require.Equal(t, w.Shape, g.Shape, "tensor %q shape", w.Name)
		}
		require.Len(t, g.Data, len(w.Data), "tensor %q", w.Name)
		for j := range w.Data {
			require.Equalf(t, math.Float64bits(w.Data[j]), math.Float64bits(g.Data[j]),
				"tensor %q element %d: got %v, want %v", w.Name, j, g.Data[j], w.Data[j])
		}
	}
}

func encodeBytes(t *testing.T, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, f))
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]float64, 3*readChunk/8+5) // spans several read chunks
	for i := range big {
		big[i] = rng.NormFloat64()
	}
	cases := []struct {
		name string
		file *File
	}{
		{"no tensors, no metadata", &File{}},
		{"empty metadata map", &File{Metadata: map[string]string{}, Tensors: []Tensor{{Name: "w", Shape: []int{1}, Data: []float64{1}}}}},
		{"metadata only", &File{Metadata: map[string]string{"format": "pt"}}},
		{"scalar", &File{Tensors: []Tensor{{Name: "lr", Shape: []int{}, Data: []float64{0.001}}}}},
		{"scalar with nil shape", &File{Tensors: []Tensor{{Name: "lr", Data: []float64{0.5}}}}},
		{"vector", &File{Tensors: []Tensor{{Name: "b", Shape: []int{3}, Data: []float64{1, -2, 3.5}}}}},
		{"zero-element tensors", &File{Tensors: []Tensor{
			{Name: "a", Shape: []int{0}, Data: []float64{}},
			{Name: "b", Shape: []int{3, 0}, Data: nil},
			{Name: "c", Shape: []int{1}, Data: []float64{7}},
		}}},
		{"special values", &File{Tensors: []Tensor{{Name: "x", Shape: []int{2, 3}, Data: []float64{
			math.NaN(), math.Float64frombits(0x7ff0000000000abc), math.Inf(-1),
			math.Copysign(0, -1), math.SmallestNonzeroFloat64, math.MaxFloat64,
		}}}}},
		{"unsorted names, escapes, unicode", &File{
			Metadata: map[string]string{"note": "quotes \" and \\ and <tags> & \n newline", "ünïcode": "✓", "": "empty key"},
			Tensors: []Tensor{
				{Name: "z.weight", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
				{Name: "a/\"quoted\"", Shape: []int{1, 1, 1}, Data: []float64{5}},
				{Name: "μ", Shape: []int{2}, Data: []float64{6, 7}},
			},
		}},
		{"large tensor", &File{Tensors: []Tensor{
			{Name: "big", Shape: []int{len(big)}, Data: big},
			{Name: "small", Shape: []int{1}, Data: []float64{9}},
		}}},
		{"float32 special values", &File{Tensors: []Tensor{{Name: "x", Shape: []int{2, 4}, DType: F32, Data: []float64{
			float64(float32(0.1)), float64(float32(math.NaN())), float64(math.Float32frombits(0x7fc00abc)), math.Inf(1),
			math.Copysign(0, -1), math.SmallestNonzeroFloat32, math.MaxFloat32, -1.5,
		}}}}},
		{"float32 and float64 mixed", &File{Tensors: []Tensor{
			{Name: "a", Shape: []int{3}, DType: F32, Data: []float64{1, 2, 3}},
			{Name: "b", Shape: []int{1}, DType: F64, Data: []float64{0.1}},
			{Name: "c", Shape: []int{0, 2}, DType: F32, Data: []float64{}},
			{Name: "d", Shape: []int{}, DType: F32, Data: []float64{0.5}},
		}}},
		{"large float32 tensor", &File{Tensors: []Tensor{
			{Name: "big", Shape: []int{len(big)}, DType: F32, Data: toFloat32Values(big)},
			{Name: "small", Shape: []int{1}, Data: []float64{9}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := encodeBytes(t, tc.file)
			headerLen := binary.LittleEndian.Uint64(raw)
			require.Zero(t, (8+headerLen)%8, "tensor data must start 8-byte aligned")
			got, err := Decode(bytes.NewReader(raw), int64(len(raw)))
			require.NoError(t, err)
			requireSameFile(t, tc.file, got)
			require.NotNil(t, got.Metadata)
			for _, tensor := range got.Tensors {
				require.NotNil(t, tensor.Shape)
				require.NotNil(t, tensor.Data)
			}
			require.Equal(t, raw, encodeBytes(t, got), "re-encoding the decoded file changes its bytes")

			_, err = Decode(bytes.NewReader(raw), int64(len(raw))-1)
			require.ErrorContains(t, err, "limit", "a limit one byte short must be refused")
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	f := &File{
		Metadata: map[string]string{"step": "3"},
		Tensors: []Tensor{
			{Name: "w", Shape: []int{1, 2}, Data: []float64{1, -2}},
			{Name: "b", Shape: []int{}, Data: []float64{0.5}},
		},
	}
	header := `{"__metadata__":{"step":"3"},"b":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"w":{"dtype":"F64","shape":[1,2],"data_offsets":[8,24]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	require.Equal(t, rawFile(header, f64Bytes(0.5, 1, -2)), encodeBytes(t, f))
}

// toFloat32Values rounds every value to float32, as a float32 run's tensors are.
func toFloat32Values(data []float64) []float64 {
	out := make([]float64, len(data))
	for i, x := range data {
		out[i] = float64(float32(x))
	}
	return out
}

func TestEncodeGoldenF32(t *testing.T) {
	f := &File{Tensors: []Tensor{
		{Name: "w", Shape: []int{1, 2}, DType: F32, Data: []float64{1, -2}},
		{Name: "b", Shape: []int{}, DType: F64, Data: []float64{0.5}},
		{Name: "s", Shape: []int{1}, DType: F32, Data: []float64{0.25}},
	}}
	header := `{"b":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"s":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"w":{"dtype":"F32","shape":[1,2],"data_offsets":[12,20]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	var data []byte
	data = append(data, f64Bytes(0.5)...)
	for _, v := range []float32{0.25, 1, -2} {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	require.Equal(t, rawFile(header, data), encodeBytes(t, f))
}

func TestValues(t *testing.T) {
	f32 := NewTensor("w", []int{2}, []float32{0.1, -3})
	require.Equal(t, F32, f32.DType)
	require.Equal(t, []float64{float64(float32(0.1)), -3}, f32.Data)
	f64 := NewTensor("b", []int{2}, []float64{0.1, -3})
	require.Equal(t, F64, f64.DType)

	got32, err := Values[float32](&f32)
	require.NoError(t, err)
	require.Equal(t, []float32{0.1, -3}, got32)
	got64, err := Values[float64](&f64)
	require.NoError(t, err)
	require.Equal(t, []float64{0.1, -3}, got64)
	legacy := Tensor{Name: "old", Shape: []int{1}, Data: []float64{0.1}} // no DType: F64
	_, err = Values[float64](&legacy)
	require.NoError(t, err)

	cases := []struct {
		name    string
		values  func() error
		wantErr string
	}{
		{"F64 into float32", func() error { _, err := Values[float32](&f64); return err }, `safetensors: tensor "b" is F64, the destination is float32 (F32)`},
		{"F32 into float64", func() error { _, err := Values[float64](&f32); return err }, `safetensors: tensor "w" is F32, the destination is float64 (F64)`},
		{"unset dtype into float32", func() error { _, err := Values[float32](&legacy); return err }, `safetensors: tensor "old" is F64, the destination is float32 (F32)`},
		{"unknown dtype", func() error {
			_, err := Values[float32](&Tensor{Name: "h", DType: "BF16", Data: []float64{1}})
			return err
		}, `safetensors: tensor "h": unsupported dtype "BF16"`},
		{"short data", func() error {
			_, err := Values[float64](&Tensor{Name: "s", Shape: []int{3}, Data: []float64{1}})
			return err
		}, `safetensors: tensor "s": shape [3] does not match its 1 values`},
		{"F32 holding a float64", func() error {
			_, err := Values[float32](&Tensor{Name: "r", Shape: []int{2}, DType: F32, Data: []float64{1, 0.1}})
			return err
		}, `safetensors: tensor "r" is F32 but element 1 (0.1) is not a float32 value`},
		{"nil tensor", func() error { _, err := Values[float32](nil); return err }, "safetensors: nil *Tensor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.EqualError(t, tc.values(), tc.wantErr)
		})
	}
}

func TestGet(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "a", Shape: []int{1}, Data: []float64{1}}, {Name: "b", Shape: []int{}, Data: []float64{2}}}}
	b, ok := f.Get("b")
	require.True(t, ok)
	require.Equal(t, []float64{2}, b.Data)
	b.Data[0] = 3
	require.Equal(t, 3.0, f.Tensors[1].Data[0], "Get aliases f.Tensors")
	_, ok = f.Get("c")
	require.False(t, ok)
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		name    string
		file    *File
		wantErr string
	}{
		{"nil file", nil, "nil *File"},
		{"empty name", &File{Tensors: []Tensor{{Name: "", Shape: []int{1}, Data: []float64{1}}}}, "tensor 0 has an empty name"},
		{"reserved name", &File{Tensors: []Tensor{{Name: "__metadata__", Data: []float64{1}}}}, `reserved for the metadata`},
		{"duplicate", &File{Tensors: []Tensor{{Name: "w", Data: []float64{1}}, {Name: "v", Data: []float64{1}}, {Name: "w", Data: []float64{2}}}}, `duplicate tensor name "w"`},
		{"negative dim", &File{Tensors: []Tensor{{Name: "w", Shape: []int{2, -1}, Data: []float64{1}}}}, `tensor "w": invalid shape [2 -1]`},
		{"overflowing shape", &File{Tensors: []Tensor{{Name: "w", Shape: []int{1 << 40, 1 << 40}}}}, `tensor "w": invalid shape`},
		{"short data", &File{Tensors: []Tensor{{Name: "w", Shape: []int{2, 3}, Data: make([]float64, 5)}}}, `tensor "w": shape [2 3] has 6 elements, data has 5`},
		{"scalar without data", &File{Tensors: []Tensor{{Name: "s", Shape: []int{}}}}, `tensor "s": shape [] has 1 elements, data has 0`},
		{"bad UTF-8 name", &File{Tensors: []Tensor{{Name: "w\xff", Data: []float64{1}}}}, "not valid UTF-8"},
		{"bad UTF-8 metadata", &File{Metadata: map[string]string{"k": "\xfe"}}, `metadata "k": key and value must be valid UTF-8`},
		{"F32 value float32 would round", &File{Tensors: []Tensor{{Name: "w", Shape: []int{2}, DType: F32, Data: []float64{1, 0.1}}}}, `tensor "w" is F32 but element 1 (0.1) is not a float32 value`},
		{"F32 value beyond float32", &File{Tensors: []Tensor{{Name: "w", Shape: []int{1}, DType: F32, Data: []float64{1e300}}}}, `tensor "w" is F32 but element 0 (1e+300) is not a float32 value`},
		{"F32 NaN payload float32 cannot hold", &File{Tensors: []Tensor{{Name: "w", Shape: []int{1}, DType: F32, Data: []float64{math.Float64frombits(0x7ff8000000000001)}}}}, `tensor "w" is F32 but element 0 (NaN)`},
		{"unknown dtype", &File{Tensors: []Tensor{{Name: "w", Shape: []int{1}, DType: "BF16", Data: []float64{1}}}}, `tensor "w": unsupported dtype "BF16" (pcnet writes F64 and F32)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, tc.file)
			require.ErrorContains(t, err, tc.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())
			require.Zero(t, buf.Len(), "nothing may be written for an invalid file")
		})
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestEncodeWriteError(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "w", Shape: []int{20000}, Data: make([]float64, 20000)}}}
	require.ErrorContains(t, Encode(&failingWriter{after: 100000}, f), "disk full")
}

func TestDecodeF32(t *testing.T) {
	header := `{"b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}, "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}`
	// "a" has 4 elements of 4 bytes but only 8 bytes: fix shape to [1, 2].
	header = strings.Replace(header, "[2,2]", "[1,2]", 1)
	var data []byte
	for _, v := range []float32{1.5, 0.1} {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	data = append(data, f64Bytes(-3)...)
	f, err := Decode(bytes.NewReader(rawFile(header, data)), 1<<20)
	require.NoError(t, err)
	requireSameFile(t, &File{Tensors: []Tensor{
		{Name: "a", Shape: []int{1, 2}, DType: F32, Data: []float64{1.5, float64(float32(0.1))}},
		{Name: "b", Shape: []int{1}, DType: F64, Data: []float64{-3}},
	}}, f)
}

// corruptCases are malformed inputs and the error each must produce; they
// also seed FuzzDecode.
var corruptCases = []struct {
	name    string
	input   []byte
	limit   int64 // 0: 1 << 20
	wantErr string
}{
	{"empty input", nil, 0, "truncated: input has 0 bytes, too few for the 8-byte header length"},
	{"truncated header length", []byte{16, 0, 0, 0, 0}, 0, "truncated: input has 5 bytes, too few for the 8-byte header length"},
	{"zero header length", rawFile("", nil), 0, "header length 0 is too small"},
	{"header length over maximum", binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), 1 << 40, "header length 100000001 exceeds the maximum of 100000000 bytes"},
	{"header length over limit", binary.LittleEndian.AppendUint64(nil, 5000), 4096, "header length 5000 exceeds the limit of 4096 bytes"},
	{"huge header length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), 0, "exceeds the maximum"},
	{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 100), `{"a":1}`...), 0, "truncated: header length says 100 bytes of JSON, input has 7 after the length"},
	{"not an object", rawFile(`[1, 2]  `, nil), 0, "header does not start with '{'"},
	{"leading space", rawFile(` {}`, nil), 0, "header does not start with '{'"},
	{"bad JSON", rawFile(`{"a":`, nil), 0, "header is not valid JSON"},
	{"bad JSON in entry", rawFile(`{"a":{"dtype":F64}}`, nil), 0, "header is not valid JSON"},
	{"unclosed object padded", rawFile(`{       `, nil), 0, "header is not valid JSON"},
	{"trailing comma", rawFile(`{"__metadata__":{},}`, nil), 0, "header is not valid JSON"},
	{"garbage after object", rawFile(`{}x     `, nil), 0, `header has 'x' after its JSON object`},
	{"NUL padding", rawFile("{}\x00\x00\x00\x00\x00\x00", nil), 0, `header has '\x00' after its JSON object`},
	{"second object", rawFile(`{}{}    `, nil), 0, `after its JSON object`},
	{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), 0, "header is not valid UTF-8"},
	{"entry not an object", rawFile(`{"a":null}`, nil), 0, `tensor "a": want '{', got null`},
	{"entry is a number", rawFile(`{"a":1}`, nil), 0, `tensor "a": want '{', got number 1`},
	{"unknown dtype", rawFile(`{"a":{"dtype":"XYZ","shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": unsupported dtype "XYZ" (pcnet reads F64 and F32)`},
	{"unsupported dtype", rawFile(`{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": unsupported dtype "BF16"`},
	{"dtype not a string", rawFile(`{"a":{"dtype":8,"shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": dtype must be a string, got number 8`},
	{"negative dim", rawFile(`{"a":{"dtype":"F64","shape":[-1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a" shape: -1 is not an integer in [0, 2^64)`},
	{"fractional dim", rawFile(`{"a":{"dtype":"F64","shape":[1.5],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a" shape: 1.5 is not an integer`},
	{"exponent dim", rawFile(`{"a":{"dtype":"F64","shape":[1e0],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a" shape: 1e0 is not an integer`},
	{"dim too large for uint64", rawFile(`{"a":{"dtype":"F64","shape":[18446744073709551616],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `is not an integer in [0, 2^64)`},
	{"string dim", rawFile(`{"a":{"dtype":"F64","shape":["1"],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a" shape: want a number, got string "1"`},
	{"shape not an array", rawFile(`{"a":{"dtype":"F64","shape":1,"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a" shape: want '[', got number 1`},
	{"shape overflow", rawFile(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": shape [4294967296 4294967296] has too many elements`},
	{"byte count overflow", rawFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `has too many elements`},
	{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": missing dtype`},
	{"missing shape", rawFile(`{"a":{"dtype":"F64","data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": missing shape`},
	{"missing offsets", rawFile(`{"a":{"dtype":"F64","shape":[1]}}`, f64Bytes(1)), 0, `tensor "a": missing data_offsets`},
	{"unknown field", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8],"stride":[1]}}`, f64Bytes(1)), 0, `tensor "a": unknown field "stride"`},
	{"duplicate field", rawFile(`{"a":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "a": duplicate field "dtype"`},
	{"three offsets", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8,16]}}`, f64Bytes(1)), 0, `tensor "a": data_offsets must be [begin, end], got 3 numbers`},
	{"one offset", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[8]}}`, f64Bytes(1)), 0, `got 1 numbers`},
	{"reversed offsets", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[8,0]}}`, f64Bytes(1)), 0, `tensor "a": data_offsets [8, 0] end before they begin`},
	{"shape and offsets disagree", rawFile(`{"a":{"dtype":"F64","shape":[3],"data_offsets":[0,16]}}`, f64Bytes(1, 2)), 0, `tensor "a": shape [3] of F64 needs 24 bytes, data_offsets [0, 16] hold 16`},
	{"F32 size mismatch", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `shape [4] of F32 needs 16 bytes`},
	{"offsets beyond data", rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}`, f64Bytes(1)), 0, "truncated: header says 16 bytes of tensor data, input has 8"},
	{"huge offsets", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[18446744073709551608,18446744073709551615]}}`, f64Bytes(1)), 0, `needs 8 bytes, data_offsets [18446744073709551608, 18446744073709551615] hold 7`},
	{"huge tensor past limit", rawFile(`{"a":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}}`, f64Bytes(1)), 0, "header says 8796093022208 bytes of tensor data, more than the limit of 1048576 bytes allows"},
	{"overlap", rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}`, f64Bytes(1, 2)), 0, `tensor "b": data_offsets [8, 16] overlap tensor "a"'s [0, 16]`},
	{"same range twice", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, `tensor "b": data_offsets [0, 8] overlap tensor "a"'s [0, 8]`},
	{"gap", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}`, f64Bytes(1, 2, 3)), 0, `tensor "b": data_offsets [16, 24] leave bytes [8, 16) of the data unused`},
	{"not starting at zero", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}`, f64Bytes(1, 2)), 0, `leave bytes [0, 8) of the data unused`},
	{"trailing data", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1, 2)), 0, "trailing data after the 8 bytes of tensor data"},
	{"trailing data without tensors", rawFile(`{}`, []byte{0}), 0, "trailing data after the 0 bytes of tensor data"},
	{"duplicate tensor", rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}`, f64Bytes(1, 2)), 0, `duplicate tensor name "a"`},
	{"empty tensor name", rawFile(`{"":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, f64Bytes(1)), 0, "header has a tensor with an empty name"},
	{"two metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), 0, `header has two "__metadata__" entries`},
	{"metadata not an object", rawFile(`{"__metadata__":"x"}`, nil), 0, `__metadata__: want '{', got string "x"`},
	{"metadata number value", rawFile(`{"__metadata__":{"epoch":3}}`, nil), 0, `__metadata__: value of "epoch" must be a string, got number 3`},
	{"metadata nested", rawFile(`{"__metadata__":{"cfg":{"lr":"1"}}}`, nil), 0, `value of "cfg" must be a string, got '{'`},
	{"metadata duplicate key", rawFile(`{"__metadata__":{"k":"1","k":"2"}}`, nil), 0, `__metadata__: duplicate key "k"`},
}

func TestDecodeCorrupt(t *testing.T) {
	for _, tc := range corruptCases {
		t.Run(tc.name, func(t *testing.T) {
			limit := cmpOr(tc.limit, 1<<20)
			f, err := Decode(bytes.NewReader(tc.input), limit)
			require.Nil(t, f)
			require.ErrorContains(t, err, tc.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())

			// ReadFile finds the same problem and names the file.
			if len(tc.input) == 0 || int64(len(tc.input)) > limit {
				return // empty files and limits are ReadFile's own business
			}
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			require.NoError(t, os.WriteFile(path, tc.input, 0o644))
			_, err = ReadFile(path)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), path+": "), err.Error())
		})
	}
}

func cmpOr(v, fallback int64) int64 {
	if v == 0 {
		return fallback
	}
	return v
}

func TestDecodeLimitZero(t *testing.T) {
	_, err := Decode(bytes.NewReader(nil), 0)
	require.ErrorContains(t, err, "limit must be positive, got 0")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("device on fire") }

func TestDecodeReadError(t *testing.T) {
	_, err := Decode(errReader{}, 1<<20)
	require.ErrorContains(t, err, "reading header length: device on fire")
	raw := rawFile(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, nil)
	_, err = Decode(io.MultiReader(bytes.NewReader(raw), errReader{}), 1<<20)
	require.ErrorContains(t, err, `reading tensor "a": device on fire`)
}

// A header that claims a gigabyte tensor costs a truncated input almost no
// memory: Decode allocates as data arrives, not as the header promises.
func TestDecodeLyingHeaderAllocatesLittle(t *testing.T) {
	const elements = 1 << 27 // 1 GiB of F64
	header := fmt.Sprintf(`{"a":{"dtype":"F64","shape":[%d],"data_offsets":[0,%d]}}`, elements, 8*elements)
	input := rawFile(header, make([]byte, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bytes.NewReader(input), 1<<40)
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, fmt.Sprintf("truncated: header says %d bytes of tensor data, input has 100", 8*elements))
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))

	// The same lie in a file is caught from its size, before any data is read.
	path := filepath.Join(t.TempDir(), "checkpoint.safetensors")
	require.NoError(t, os.WriteFile(path, input, 0o644))
	runtime.ReadMemStats(&before)
	_, err = ReadFile(path)
	runtime.ReadMemStats(&after)
	require.EqualError(t, err, fmt.Sprintf("%s: truncated: header says %d bytes of tensor data, file has 100", path, 8*elements))
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	want := &File{Metadata: map[string]string{"epoch": "2"}, Tensors: []Tensor{{Name: "w", Shape: []int{2}, Data: []float64{1, 2}}}}
	path := filepath.Join(dir, "ok.safetensors")
	require.NoError(t, WriteFileAtomic(path, want))
	got, err := ReadFile(path)
	require.NoError(t, err)
	requireSameFile(t, want, got)

	_, err = ReadFile(filepath.Join(dir, "missing.safetensors"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "missing.safetensors")

	_, err = ReadFile(dir)
	require.ErrorContains(t, err, dir+": not a regular file")

	empty := filepath.Join(dir, "empty.safetensors")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = ReadFile(empty)
	require.EqualError(t, err, empty+": empty file")

	// A file cut short in its data.
	raw := encodeBytes(t, want)
	cut := filepath.Join(dir, "cut.safetensors")
	require.NoError(t, os.WriteFile(cut, raw[:len(raw)-3], 0o644))
	_, err = ReadFile(cut)
	require.EqualError(t, err, cut+": truncated: header says 16 bytes of tensor data, file has 13")
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.safetensors")
	old := &File{Tensors: []Tensor{{Name: "w", Shape: []int{1}, Data: []float64{1}}}}
	require.NoError(t, WriteFileAtomic(path, old))
	oldBytes, err := os.ReadFile(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// Replacing keeps the old file's permissions.
	require.NoError(t, os.Chmod(path, 0o600))
	newer := &File{Tensors: []Tensor{{Name: "w", Shape: []int{2}, Data: []float64{2, 3}}}}
	require.NoError(t, WriteFileAtomic(path, newer))
	got, err := ReadFile(path)
	require.NoError(t, err)
	requireSameFile(t, newer, got)
	st, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.NoError(t, WriteFileAtomic(path, old))

	failures := []struct {
		name    string
		write   func() error
		wantErr string
	}{
		{"invalid file", func() error {
			return WriteFileAtomic(path, &File{Tensors: []Tensor{{Name: "w", Shape: []int{3}, Data: []float64{1}}}})
		}, path + `: tensor "w": shape [3] has 3 elements, data has 1`},
		{"write fails midway", func() error {
			return WriteAtomic(path, func(w io.Writer) error {
				if _, err := w.Write(make([]byte, 1<<20)); err != nil {
					return err
				}
				return errors.New("out of tensors")
			})
		}, path + ": out of tensors"},
		{"write panics", func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return WriteAtomic(path, func(w io.Writer) error {
				w.Write([]byte("partial"))
				panic("boom")
			})
		}, "panic: boom"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			require.EqualError(t, tc.write(), tc.wantErr)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, oldBytes, after, "the old file must be left intact")
			require.Equal(t, []string{"checkpoint.safetensors"}, listDir(t, dir), "no temporary file may be left behind")
		})
	}

	t.Run("rename fails", func(t *testing.T) {
		// A non-empty directory cannot be renamed over.
		blocked := filepath.Join(dir, "blocked")
		require.NoError(t, os.MkdirAll(filepath.Join(blocked, "inner"), 0o755))
		err := WriteFileAtomic(blocked, old)
		require.ErrorContains(t, err, blocked+": rename")
		require.Equal(t, []string{"blocked", "checkpoint.safetensors"}, listDir(t, dir))
	})

	t.Run("missing directory", func(t *testing.T) {
		err := WriteFileAtomic(filepath.Join(dir, "nope", "x.safetensors"), old)
		require.ErrorContains(t, err, "creating temporary file")
	})
}

// TestPythonInterop checks the files against an independent reader and
// writer in Python (testdata/safetensors_py.py, standard library only).
// Without python3 it skips, except under CI=true, where it fails.
func TestPythonInterop(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required under CI=true: %v", err)
		}
		t.Skipf("python3 not found: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join("testdata", "safetensors_py.py")

	t.Run("python reads Go's file", func(t *testing.T) {
		f := &File{
			Metadata: map[string]string{"format": "pt", "pcnet": "quote \" ✓"},
			Tensors: []Tensor{
				{Name: "layer1.weight", Shape: []int{2, 3}, Data: []float64{0.1, -0.2, 1e-300, math.Inf(1), math.NaN(), math.Copysign(0, -1)}},
				{Name: "layer0.bias", Shape: []int{3}, Data: []float64{1, 2, 3}},
				{Name: "step", Shape: []int{}, Data: []float64{42}},
				{Name: "empty", Shape: []int{0, 5}, Data: []float64{}},
			},
		}
		path := filepath.Join(dir, "go.safetensors")
		require.NoError(t, WriteFileAtomic(path, f))
		out, err := exec.Command(python, script, "read", path).Output()
		require.NoError(t, err, "python rejected the file: %s", stderrOf(err))
		var got struct {
			Metadata map[string]string
			Tensors  map[string]struct {
				Dtype string
				Shape []int
				Bits  []string
			}
		}
		require.NoError(t, json.Unmarshal(out, &got))
		require.Equal(t, f.Metadata, got.Metadata)
		require.Len(t, got.Tensors, len(f.Tensors))
		for _, want := range f.Tensors {
			g, ok := got.Tensors[want.Name]
			require.True(t, ok, "python lacks tensor %q", want.Name)
			require.Equal(t, "F64", g.Dtype)
			require.Equal(t, len(want.Shape), len(g.Shape))
			if len(want.Shape) > 0 {
				require.Equal(t, want.Shape, g.Shape)
			}
			require.Len(t, g.Bits, len(want.Data))
			for i, v := range want.Data {
				bits, err := strconv.ParseUint(g.Bits[i], 16, 64)
				require.NoError(t, err)
				require.Equalf(t, math.Float64bits(v), bits, "tensor %q element %d", want.Name, i)
			}
		}
	})

	t.Run("Go reads python's file", func(t *testing.T) {
		path := filepath.Join(dir, "py.safetensors")
		out, err := exec.Command(python, script, "write", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		got, err := ReadFile(path)
		require.NoError(t, err)
		requireSameFile(t, &File{
			Metadata: map[string]string{"format": "pt", "note": "written by python"},
			Tensors: []Tensor{
				{Name: "z.f32", Shape: []int{2, 2}, DType: F32, Data: []float64{1.5, -2.25, float64(float32(3.1)), float64(float32(1e-8))}},
				{Name: "a.f64", Shape: []int{3}, Data: []float64{0.1, math.Copysign(0, -1), 1e300}},
				{Name: "m.scalar", Shape: []int{}, Data: []float64{2.718281828459045}},
				{Name: "e.empty", Shape: []int{0, 4}, DType: F32, Data: []float64{}},
			},
		}, got)
	})
}

// torchTensor is how testdata/safetensors_torch.py reports a tensor.
type torchTensor struct {
	FileDType  string `json:"file_dtype"`
	ParamDType string `json:"param_dtype"`
	Shape      []int
	Bits       []string
}

// TestTorchInterop round-trips a float32 state dict through PyTorch
// (testdata/safetensors_torch.py): F32 tensors written by Go load into a
// float32 nn.Sequential as float32 with every bit kept, and the state dict
// torch writes decodes in Go as F32 with the same bits. Without
// /usr/bin/python3 and torch it skips, except under CI=true, where it fails.
func TestTorchInterop(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs %s with torch (apt-get install python3-torch): %v", python, err)
		}
		t.Skipf("%s has no torch: %v", python, err)
	}
	script := filepath.Join("testdata", "safetensors_torch.py")
	run := func(t *testing.T, args ...string) map[string]torchTensor {
		t.Helper()
		out, err := exec.Command(python, append([]string{script}, args...)...).Output()
		require.NoError(t, err, "safetensors_torch.py: %s", stderrOf(err))
		var got map[string]torchTensor
		require.NoError(t, json.Unmarshal(out, &got))
		return got
	}
	requireBits := func(t *testing.T, want []float64, bits []string, name string) {
		t.Helper()
		require.Len(t, bits, len(want), "tensor %q", name)
		for i, v := range want {
			b, err := strconv.ParseUint(bits[i], 16, 32)
			require.NoError(t, err)
			require.Equalf(t, math.Float32bits(float32(v)), uint32(b), "tensor %q element %d", name, i)
		}
	}

	t.Run("torch loads Go's float32 state dict", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		values := func(n int) []float32 {
			out := make([]float32, n)
			for i := range out {
				out[i] = float32(rng.NormFloat64())
			}
			return out
		}
		w0 := values(12)
		w0[0], w0[1] = float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32 // a sign and a subnormal kept
		f := &File{Metadata: map[string]string{"format": "pt"}, Tensors: []Tensor{
			NewTensor("0.weight", []int{4, 3}, w0),
			NewTensor("0.bias", []int{4}, values(4)),
			NewTensor("2.weight", []int{2, 4}, values(8)),
			NewTensor("2.bias", []int{2}, values(2)),
		}}
		path := filepath.Join(t.TempDir(), "go.safetensors")
		require.NoError(t, WriteFileAtomic(path, f))
		got := run(t, "load", path)
		require.Len(t, got, len(f.Tensors))
		for _, want := range f.Tensors {
			g, ok := got[want.Name]
			require.True(t, ok, "torch lacks %q", want.Name)
			require.Equal(t, "torch.float32", g.FileDType, "tensor %q as torch read it", want.Name)
			require.Equal(t, "torch.float32", g.ParamDType, "tensor %q in the model", want.Name)
			require.Equal(t, want.Shape, g.Shape)
			requireBits(t, want.Data, g.Bits, want.Name)
		}
	})

	t.Run("Go loads torch's float32 state dict", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "torch.safetensors")
		want := run(t, "save", path)
		got, err := ReadFile(path)
		require.NoError(t, err)
		require.Len(t, got.Tensors, len(want))
		for _, g := range got.Tensors {
			w, ok := want[g.Name]
			require.True(t, ok, "Go read a tensor %q torch did not write", g.Name)
			require.Equal(t, F32, g.DType)
			require.Equal(t, w.Shape, g.Shape)
			vals, err := Values[float32](&g)
			require.NoError(t, err)
			requireBits(t, g.Data, w.Bits, g.Name)
			require.Len(t, vals, len(g.Data))
			_, err = Values[float64](&g)
			require.EqualError(t, err, fmt.Sprintf("safetensors: tensor %q is F32, the destination is float64 (F64)", g.Name))
		}
	})
}

func stderrOf(err error) string {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return string(exitErr.Stderr)
	}
	return ""
}

// FuzzDecode holds Decode to its promises on arbitrary input: no panic, and
// whatever it accepts encodes and decodes back to the same thing.
func FuzzDecode(f *testing.F) {
	for _, tc := range corruptCases {
		f.Add(tc.input)
	}
	valid := []*File{
		{},
		{Metadata: map[string]string{"k": "v"}, Tensors: []Tensor{{Name: "s", Data: []float64{1}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}, {Name: "b", Shape: []int{0}, Data: []float64{}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{2, 2}, DType: F32, Data: []float64{1, 2, 3, 4}}, {Name: "b", Shape: []int{1}, Data: []float64{0.1}}}},
		{Tensors: []Tensor{{Name: "n", Shape: []int{3}, DType: F32, Data: []float64{math.Inf(-1), float64(float32(math.NaN())), math.SmallestNonzeroFloat32}}}},
	}
	for _, file := range valid {
		var buf bytes.Buffer
		if err := Encode(&buf, file); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "__metadata__": {}}`, f64Bytes(1)))
	f.Fuzz(func(t *testing.T, input []byte) {
		file, err := Decode(bytes.NewReader(input), 1<<20)
		if err != nil {
			if file != nil {
				t.Fatalf("Decode returned a file and error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, file); err != nil {
			t.Fatalf("cannot re-encode a decoded file: %v", err)
		}
		again, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("cannot decode a re-encoded file: %v", err)
		}
		requireSameFile(t, file, again)
	})
}
