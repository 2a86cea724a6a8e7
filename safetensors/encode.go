package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encode writes f to w in the safetensors format, every tensor in its DType
// (F64 when DType is empty). The output is deterministic: tensors and
// metadata keys sorted by name, the header padded with spaces to a multiple
// of 8 bytes. Encode checks f before writing anything: tensor names must be
// non-empty, valid UTF-8, unique and not "__metadata__", the dtype F64 or
// F32, shapes non-negative, len(Data) the product of Shape, and an F32
// tensor's values float32 values (Encode does not round).
func Encode(w io.Writer, f *File) error {
	if err := encode(w, f); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// encode is Encode without the package prefix on its errors, which
// WriteFileAtomic replaces with the file name.
func encode(w io.Writer, f *File) error {
	order, err := check(f)
	if err != nil {
		return err
	}
	header := buildHeader(f, order)
	bw := bufio.NewWriterSize(w, 64<<10)
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(header)))
	bw.Write(size[:]) // bufio.Writer errors are sticky: Flush reports them
	bw.Write(header)
	var chunk [4096]byte
	for _, i := range order {
		t := &f.Tensors[i]
		data, dtype := t.Data, t.dtype()
		size, _ := dtypeSize(dtype)
		for len(data) > 0 {
			n := min(len(data), len(chunk)/int(size))
			if dtype == F32 {
				for j, x := range data[:n] {
					binary.LittleEndian.PutUint32(chunk[4*j:], math.Float32bits(float32(x)))
				}
			} else {
				for j, x := range data[:n] {
					binary.LittleEndian.PutUint64(chunk[8*j:], math.Float64bits(x))
				}
			}
			if _, err := bw.Write(chunk[:int(size)*n]); err != nil {
				return fmt.Errorf("writing tensor %q: %w", t.Name, err)
			}
			data = data[n:]
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// check validates f for encoding and returns the indices of its tensors in
// name order.
func check(f *File) ([]int, error) {
	if f == nil {
		return nil, errors.New("nil *File")
	}
	for _, k := range slices.Sorted(maps.Keys(f.Metadata)) {
		if !utf8.ValidString(k) || !utf8.ValidString(f.Metadata[k]) {
			return nil, fmt.Errorf("metadata %q: key and value must be valid UTF-8", k)
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(f.Tensors[a].Name, f.Tensors[b].Name) })
	for k, i := range order {
		t := &f.Tensors[i]
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("tensor %d has an empty name", i)
		case t.Name == metadataKey:
			return nil, fmt.Errorf("tensor %d is named %q, which is reserved for the metadata", i, metadataKey)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("tensor %d: name %q is not valid UTF-8", i, t.Name)
		case k > 0 && f.Tensors[order[k-1]].Name == t.Name:
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		n, ok := numElements(t.Shape)
		if !ok {
			return nil, fmt.Errorf("tensor %q: invalid shape %v (negative or too large)", t.Name, t.Shape)
		}
		if uint64(len(t.Data)) != n {
			return nil, fmt.Errorf("tensor %q: shape %v has %d elements, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		switch t.dtype() {
		case F64:
		case F32:
			if j := notFloat32(t.Data); j >= 0 {
				return nil, fmt.Errorf("tensor %q is F32 but element %d (%v) is not a float32 value", t.Name, j, t.Data[j])
			}
		default:
			return nil, fmt.Errorf("tensor %q: unsupported dtype %q (pcnet writes F64 and F32)", t.Name, t.DType)
		}
	}
	return order, nil
}

// buildHeader returns the JSON header for f's tensors in the given order,
// padded with spaces to a multiple of 8 bytes.
func buildHeader(f *File, order []int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(f.Metadata) > 0 {
		sep()
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for j, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			if j > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, f.Metadata[k])
		}
		b.WriteByte('}')
	}
	var offset uint64
	for _, i := range order {
		t := &f.Tensors[i]
		sep()
		writeJSONString(&b, t.Name)
		dtype := t.dtype()
		size, _ := dtypeSize(dtype)
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, dtype)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := offset + size*uint64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeJSONString writes s as a JSON string. s must be valid UTF-8, which
// check ensures; json.Marshal would otherwise silently replace bad bytes.
func writeJSONString(b *bytes.Buffer, s string) {
	enc, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("safetensors: marshalling a string cannot fail: %v", err))
	}
	b.Write(enc)
}
