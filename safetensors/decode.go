package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Decode reads a safetensors file from r, which must end where the file
// ends. limit caps the bytes accepted in all (the 8-byte length, header and
// tensor data), and so the memory Decode may use: a file that declares more
// is rejected before its data is read. Memory grows only as r actually
// supplies data, so a small input that claims huge tensors costs little.
// Each tensor's DType is the file's; F32 values are held as float64 (exactly,
// see [Tensor.Data]). Errors say what is wrong with the input.
func Decode(r io.Reader, limit int64) (*File, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("safetensors: limit must be positive, got %d", limit)
	}
	f, err := decode(r, limit, -1)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// entry is one tensor as the header describes it.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
	elements   uint64
	values     []float64
}

// readChunk is how many bytes of tensor data decode reads at a time; a
// multiple of every dtype size.
const readChunk = 64 << 10

// decode implements Decode and ReadFile. size is the input's total size
// when known (a file), or -1; knowing it, decode rejects a truncated or
// overlong input before reading the data and allocates each tensor exactly.
// Its errors say "file" when the size is known and "input" otherwise.
func decode(r io.Reader, limit, size int64) (*File, error) {
	what := "input"
	if size >= 0 {
		what = "file"
	}
	var prefix [8]byte
	if n, err := io.ReadFull(r, prefix[:]); err != nil {
		if n < len(prefix) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return nil, fmt.Errorf("truncated: %s has %d bytes, too few for the 8-byte header length", what, n)
		}
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	headerLen := binary.LittleEndian.Uint64(prefix[:])
	switch {
	case headerLen < 2:
		return nil, fmt.Errorf("header length %d is too small for a JSON object", headerLen)
	case headerLen > MaxHeaderSize:
		return nil, fmt.Errorf("header length %d exceeds the maximum of %d bytes", headerLen, MaxHeaderSize)
	case 8+headerLen > uint64(limit):
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", headerLen, limit)
	case size >= 0 && 8+headerLen > uint64(size):
		return nil, fmt.Errorf("truncated: header length says %d bytes of JSON, file has %d after the length", headerLen, size-8)
	}

	var header []byte
	if size >= 0 {
		header = make([]byte, headerLen) // the file is known to hold it
		if _, err := io.ReadFull(r, header); err != nil {
			return nil, fmt.Errorf("reading header: %w", err)
		}
	} else {
		// Grows only as bytes arrive, so a lying length costs nothing.
		var err error
		header, err = io.ReadAll(io.LimitReader(r, int64(headerLen)))
		if err != nil {
			return nil, fmt.Errorf("reading header: %w", err)
		}
		if uint64(len(header)) < headerLen {
			return nil, fmt.Errorf("truncated: header length says %d bytes of JSON, input has %d after the length", headerLen, len(header))
		}
	}

	metadata, entries, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	dataLen, err := checkLayout(entries)
	if err != nil {
		return nil, err
	}
	if total := 8 + headerLen + dataLen; total > uint64(limit) || total < dataLen {
		return nil, fmt.Errorf("header says %d bytes of tensor data, more than the limit of %d bytes allows", dataLen, limit)
	}
	if size >= 0 {
		if have := uint64(size) - 8 - headerLen; have < dataLen {
			return nil, fmt.Errorf("truncated: header says %d bytes of tensor data, file has %d", dataLen, have)
		} else if have > dataLen {
			return nil, fmt.Errorf("%d bytes of trailing data after the %d bytes of tensor data", have-dataLen, dataLen)
		}
	}

	// checkLayout sorted entries by offset, so the data is read in order.
	chunk := make([]byte, min(readChunk, dataLen))
	var consumed uint64
	for i := range entries {
		e := &entries[i]
		elemSize, _ := dtypeSize(e.dtype)
		prealloc := e.elements
		if size < 0 {
			prealloc = min(prealloc, readChunk/elemSize)
		}
		values := make([]float64, 0, prealloc)
		for remaining := e.end - e.begin; remaining > 0; {
			k := min(remaining, uint64(len(chunk)))
			n, err := io.ReadFull(r, chunk[:k])
			consumed += uint64(n)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, fmt.Errorf("truncated: header says %d bytes of tensor data, %s has %d", dataLen, what, consumed)
				}
				return nil, fmt.Errorf("reading tensor %q: %w", e.name, err)
			}
			values = appendDecoded(values, chunk[:k], e.dtype)
			remaining -= k
		}
		e.values = values
	}
	var probe [1]byte
	if n, _ := io.ReadFull(r, probe[:]); n > 0 {
		return nil, fmt.Errorf("trailing data after the %d bytes of tensor data", dataLen)
	}

	f := &File{Metadata: metadata, Tensors: make([]Tensor, len(entries))}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, Shape: e.shape, DType: e.dtype, Data: e.values}
	}
	return f, nil
}

// appendDecoded appends the little-endian values of raw, of the given dtype,
// to dst as float64.
func appendDecoded(dst []float64, raw []byte, dtype DType) []float64 {
	switch dtype {
	case F64:
		for len(raw) >= 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(raw)))
			raw = raw[8:]
		}
	case F32:
		for len(raw) >= 4 {
			dst = append(dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw))))
			raw = raw[4:]
		}
	default:
		panic("safetensors: appendDecoded: unchecked dtype " + string(dtype))
	}
	return dst
}

// checkLayout checks each entry's byte range against its shape and dtype,
// and that the ranges tile [0, dataLen) exactly. It sorts entries by offset
// and returns dataLen.
func checkLayout(entries []entry) (dataLen uint64, err error) {
	for i := range entries {
		e := &entries[i]
		elemSize, ok := dtypeSize(e.dtype)
		if !ok {
			return 0, fmt.Errorf("tensor %q: unsupported dtype %q (pcnet reads F64 and F32)", e.name, e.dtype)
		}
		n, ok := numElements(e.shape)
		if !ok || n > math.MaxInt {
			return 0, fmt.Errorf("tensor %q: shape %v has too many elements", e.name, e.shape)
		}
		e.elements = n
		if e.end < e.begin {
			return 0, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", e.name, e.begin, e.end)
		}
		if want := n * elemSize; e.end-e.begin != want {
			return 0, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
				e.name, e.shape, e.dtype, want, e.begin, e.end, e.end-e.begin)
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	var next uint64
	for i, e := range entries {
		switch {
		case e.begin < next:
			return 0, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q's [%d, %d]",
				e.name, e.begin, e.end, entries[i-1].name, entries[i-1].begin, entries[i-1].end)
		case e.begin > next:
			return 0, fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes [%d, %d) of the data unused",
				e.name, e.begin, e.end, next, e.begin)
		}
		next = e.end
	}
	return next, nil
}

// parseHeader parses the JSON header strictly: a single object of tensor
// entries and at most one "__metadata__" object of strings, no duplicate
// keys, no unknown fields, and nothing after it but space padding.
func parseHeader(header []byte) (map[string]string, []entry, error) {
	if header[0] != '{' {
		return nil, nil, fmt.Errorf("header does not start with '{' (got %q)", header[0])
	}
	if !utf8.Valid(header) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	p := headerParser{dec: json.NewDecoder(bytes.NewReader(header))}
	p.dec.UseNumber()
	if err := p.expectDelim('{', "header"); err != nil {
		return nil, nil, err
	}
	var (
		metadata map[string]string
		entries  []entry
		seen     = make(map[string]bool)
	)
	for p.dec.More() {
		name, err := p.key("header")
		if err != nil {
			return nil, nil, err
		}
		if seen[name] {
			if name == metadataKey {
				return nil, nil, fmt.Errorf("header has two %q entries", metadataKey)
			}
			return nil, nil, fmt.Errorf("duplicate tensor name %q", name)
		}
		seen[name] = true
		if name == metadataKey {
			if metadata, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if name == "" {
			return nil, nil, errors.New("header has a tensor with an empty name")
		}
		e, err := p.entry(name)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if err := p.expectDelim('}', "header"); err != nil {
		return nil, nil, err
	}
	for _, c := range header[p.dec.InputOffset():] {
		if c != ' ' {
			return nil, nil, fmt.Errorf("header has %q after its JSON object, where only space padding may be", c)
		}
	}
	if metadata == nil {
		metadata = make(map[string]string)
	}
	return metadata, entries, nil
}

// headerParser walks the header's JSON token by token, which (unlike
// json.Unmarshal into a map) sees duplicate keys.
type headerParser struct {
	dec *json.Decoder
}

func (p *headerParser) token(where string) (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("header is not valid JSON: %s: %v", where, err)
	}
	return tok, nil
}

func (p *headerParser) expectDelim(want json.Delim, where string) error {
	tok, err := p.token(where)
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("%s: want '%c', got %s", where, rune(want), describeToken(tok))
	}
	return nil
}

func (p *headerParser) key(where string) (string, error) {
	tok, err := p.token(where)
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok { // the decoder only yields strings as object keys; be safe anyway
		return "", fmt.Errorf("%s: want a key, got %s", where, describeToken(tok))
	}
	return k, nil
}

func (p *headerParser) metadata() (map[string]string, error) {
	const where = metadataKey
	if err := p.expectDelim('{', where); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for p.dec.More() {
		k, err := p.key(where)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s: duplicate key %q", where, k)
		}
		tok, err := p.token(where)
		if err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%s: value of %q must be a string, got %s", where, k, describeToken(tok))
		}
		m[k] = v
	}
	return m, p.expectDelim('}', where)
}

func (p *headerParser) entry(name string) (entry, error) {
	where := fmt.Sprintf("tensor %q", name)
	e := entry{name: name}
	if err := p.expectDelim('{', where); err != nil {
		return e, err
	}
	var haveDtype, haveShape, haveOffsets bool
	for p.dec.More() {
		field, err := p.key(where)
		if err != nil {
			return e, err
		}
		switch field {
		case "dtype":
			if haveDtype {
				return e, fmt.Errorf("%s: duplicate field %q", where, field)
			}
			haveDtype = true
			tok, err := p.token(where)
			if err != nil {
				return e, err
			}
			s, ok := tok.(string)
			if !ok {
				return e, fmt.Errorf("%s: dtype must be a string, got %s", where, describeToken(tok))
			}
			e.dtype = DType(s)
		case "shape":
			if haveShape {
				return e, fmt.Errorf("%s: duplicate field %q", where, field)
			}
			haveShape = true
			dims, err := p.uints(where + " shape")
			if err != nil {
				return e, err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return e, fmt.Errorf("%s: shape dimension %d is too large", where, d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			if haveOffsets {
				return e, fmt.Errorf("%s: duplicate field %q", where, field)
			}
			haveOffsets = true
			offs, err := p.uints(where + " data_offsets")
			if err != nil {
				return e, err
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("%s: data_offsets must be [begin, end], got %d numbers", where, len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			return e, fmt.Errorf("%s: unknown field %q", where, field)
		}
	}
	switch {
	case !haveDtype:
		return e, fmt.Errorf("%s: missing dtype", where)
	case !haveShape:
		return e, fmt.Errorf("%s: missing shape", where)
	case !haveOffsets:
		return e, fmt.Errorf("%s: missing data_offsets", where)
	}
	return e, p.expectDelim('}', where)
}

// uints parses an array of non-negative integers.
func (p *headerParser) uints(where string) ([]uint64, error) {
	if err := p.expectDelim('[', where); err != nil {
		return nil, err
	}
	out := []uint64{}
	for p.dec.More() {
		tok, err := p.token(where)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: want a number, got %s", where, describeToken(tok))
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not an integer in [0, 2^64)", where, num)
		}
		out = append(out, v)
	}
	return out, p.expectDelim(']', where)
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("'%c'", rune(t))
	case string:
		return fmt.Sprintf("string %q", t)
	case json.Number:
		return "number " + string(t)
	case bool:
		return fmt.Sprintf("%v", t)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
