package mnist

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/pcnet/pcnet/tensor"
)

// IDX magic numbers: two zero bytes, the element type (0x08, unsigned byte) and the
// number of dimensions.
const (
	imagesMagic uint32 = 0x00000803
	labelsMagic uint32 = 0x00000801
)

// maxIDXBytes caps the payload a header may promise. MNIST's largest file holds 47 MB;
// a header promising more than 4 GiB is forged or foreign, and the cap keeps
// count*rows*cols far from overflowing.
const maxIDXBytes = 1 << 32

// firstChunk is the most the reader allocates before any payload has arrived; from
// there the buffer at most doubles per refill, so memory tracks what the stream
// actually delivers rather than what the header claims.
const firstChunk = 1 << 20

// Errors wrapped by the readers, for errors.Is. The messages add the file and the
// details.
var (
	// ErrMagic: the file is not an IDX file of the expected kind.
	ErrMagic = errors.New("wrong magic number")
	// ErrTruncated: the file, or the gzip stream inside it, ends early.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt: the gzip stream is damaged (bad header, bad deflate data, bad CRC).
	ErrCorrupt = errors.New("corrupt gzip stream")
	// ErrFormat: the header is absurd (zero or enormous counts) or the payload is
	// followed by trailing bytes.
	ErrFormat = errors.New("malformed IDX file")
	// ErrNotMNIST: a well-formed IDX file that does not hold MNIST (wrong image size,
	// label out of range, image and label counts differ, too few training images).
	ErrNotMNIST = errors.New("not MNIST")
)

// unitScale[p] is p/255, so decoding is one table look-up per pixel.
var unitScale = func() (t [256]float64) {
	for p := range t {
		t[p] = float64(p) / 255
	}
	return t
}()

// idxKind describes one kind of IDX file.
type idxKind struct {
	magic uint32
	dims  int    // number of dimensions, the count included
	name  string // what it holds, for messages: "images" or "labels"
	data  string // what its payload is, for messages
}

var (
	imagesKind = idxKind{magic: imagesMagic, dims: 3, name: "images", data: "pixel data"}
	labelsKind = idxKind{magic: labelsMagic, dims: 1, name: "labels", data: "label data"}
)

// decodeIDX reads one IDX file of the given kind from r, gunzipping it first when it
// starts with the gzip magic 0x1f 0x8b. It returns the header's dimensions (count
// first) and the raw payload. Errors do not name the file; the callers add it.
func decodeIDX(r io.Reader, kind idxKind, sizeHint int) (dims []int, payload []byte, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	gz := false
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, streamError(err, true, "gzip header", 0, 0)
		}
		defer zr.Close()
		src, gz = zr, true
	}

	var hdr [4 + 4*3]byte
	hdrLen := 4 + 4*kind.dims
	if n, err := io.ReadFull(src, hdr[:hdrLen]); err != nil {
		// A file too short to hold even the magic number is reported as truncated,
		// but a wrong magic number in the bytes that are there says more.
		if n >= 4 && binary.BigEndian.Uint32(hdr[:4]) != kind.magic {
			return nil, nil, magicError(binary.BigEndian.Uint32(hdr[:4]), kind)
		}
		return nil, nil, streamError(err, gz, "IDX header", n, hdrLen)
	}
	if got := binary.BigEndian.Uint32(hdr[:4]); got != kind.magic {
		return nil, nil, magicError(got, kind)
	}
	dims = make([]int, kind.dims)
	total := uint64(1)
	for i := range dims {
		d := uint64(binary.BigEndian.Uint32(hdr[4+4*i:]))
		switch {
		case d == 0 && i == 0:
			return nil, nil, fmt.Errorf("%w: header says %s: nothing to read", ErrFormat, describe(hdr[4:hdrLen], kind))
		case d == 0:
			return nil, nil, fmt.Errorf("%w: header says %s: zero-sized %s", ErrFormat, describe(hdr[4:hdrLen], kind), kind.name)
		}
		if total > maxIDXBytes/d {
			return nil, nil, fmt.Errorf("%w: header says %s, more than the %d-byte limit", ErrFormat, describe(hdr[4:hdrLen], kind), uint64(maxIDXBytes))
		}
		total *= d
		dims[i] = int(d)
	}
	if total > math.MaxInt {
		return nil, nil, fmt.Errorf("%w: header says %s, too large for this platform", ErrFormat, describe(hdr[4:hdrLen], kind))
	}

	payload, err = readPayload(src, int(total), sizeHint)
	if err != nil {
		what := fmt.Sprintf("%s (header says %s)", kind.data, describe(hdr[4:hdrLen], kind))
		return nil, nil, streamError(err, gz, what, len(payload), int(total))
	}

	// Read past the payload: a gzip stream verifies its CRC only at its end, and a
	// longer file means the header lies about the size.
	var one [1]byte
	n, err := io.ReadFull(src, one[:])
	switch {
	case n == 1 && gz:
		// Damaged deflate data can decode to too many bytes; the CRC at the end of
		// the stream then tells corruption from a lying header. Draining only reads.
		if _, err := io.Copy(io.Discard, src); err != nil {
			return nil, nil, streamError(err, gz, "data past the payload", 0, 0)
		}
		fallthrough
	case n == 1:
		return nil, nil, fmt.Errorf("%w: trailing bytes after the %d-byte payload the header promises (%s)", ErrFormat, total, describe(hdr[4:hdrLen], kind))
	case err != io.EOF && gz:
		return nil, nil, streamError(err, gz, "gzip trailer", 0, 0)
	case err != io.EOF:
		return nil, nil, streamError(err, gz, "end of file", 0, 0)
	}
	return dims, payload, nil
}

// readPayload reads exactly n bytes from r. It allocates at most firstChunk bytes up
// front and then at most doubles as data arrives, so a header that promises more than
// the stream holds costs about twice what the stream holds, not what it promises. On
// error it returns the bytes read so far.
//
// When the file itself vouches for the same size (sizeHint == n, see payloadHint), it
// allocates the n bytes at once instead: growing by doubling holds the old and the new
// buffer at the last refill and leaves the earlier ones to the collector, which took
// the heap of a default training run to twice the 55 MB of MNIST's pixels while it
// loaded. A file whose header and trailer agree on a lie then costs address space but
// not memory: the pages the stream never fills are never touched.
func readPayload(r io.Reader, n, sizeHint int) ([]byte, error) {
	if n == sizeHint {
		buf := make([]byte, n)
		got, err := io.ReadFull(r, buf)
		return buf[:got], err
	}
	buf := make([]byte, min(n, firstChunk))
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return buf[:got], err
		}
		if got == n {
			return buf, nil
		}
		grown := make([]byte, min(n, 2*len(buf)))
		copy(grown, buf)
		buf = grown
	}
}

// describe renders header dimensions for messages, e.g. "3 images of 28x28".
func describe(dims []byte, kind idxKind) string {
	count := binary.BigEndian.Uint32(dims)
	if kind.dims == 3 {
		return fmt.Sprintf("%d %s of %dx%d", count, kind.name,
			binary.BigEndian.Uint32(dims[4:]), binary.BigEndian.Uint32(dims[8:]))
	}
	return fmt.Sprintf("%d %s", count, kind.name)
}

func magicError(got uint32, want idxKind) error {
	what := "not IDX"
	switch got {
	case imagesMagic:
		what = "IDX images"
	case labelsMagic:
		what = "IDX labels"
	}
	return fmt.Errorf("%w: got 0x%08x (%s), want 0x%08x (IDX %s)", ErrMagic, got, what, want.magic, want.name)
}

// streamError classifies a read error: an early end is truncation, a damaged gzip
// stream is corruption, anything else (an I/O error) passes through wrapped.
func streamError(err error, gz bool, what string, got, want int) error {
	stream := "file"
	if gz {
		stream = "gzip stream"
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if want > 0 {
			return fmt.Errorf("%w %s: %s ends after %d of %d bytes", ErrTruncated, stream, what, got, want)
		}
		return fmt.Errorf("%w %s: %s cut short", ErrTruncated, stream, what)
	case gz && isGzipDamage(err):
		return fmt.Errorf("%w in %s: %w", ErrCorrupt, what, err)
	default:
		return fmt.Errorf("reading %s: %w", what, err)
	}
}

func isGzipDamage(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)
}

// readIDXFile opens path and decodes it, naming the file in every error. A missing
// file keeps fs.ErrNotExist in its chain.
func readIDXFile(path string, kind idxKind) (dims []int, payload []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: %w", kind.name, err)
	}
	defer f.Close()
	dims, payload, err = decodeIDX(f, kind, payloadHint(f, kind))
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return dims, payload, nil
}

// payloadHint returns the payload size that f vouches for apart from its header, or -1:
// an uncompressed file's length less the header's, or, for a gzip file, the length
// less the header's that its trailer records (ISIZE, the inflated length modulo 2³²,
// which the gzip reader checks against what it inflates; a file of several gzip
// members records only the last one's, and then the sizes do not agree).
func payloadHint(f *os.File, kind idxKind) int {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return -1
	}
	hdrLen := int64(4 + 4*kind.dims)
	var head [4]byte
	if st.Size() < int64(len(head)) {
		return -1
	}
	if _, err := f.ReadAt(head[:2], 0); err != nil {
		return -1
	}
	if head[0] != 0x1f || head[1] != 0x8b {
		return int(st.Size() - hdrLen)
	}
	if _, err := f.ReadAt(head[:], st.Size()-4); err != nil {
		return -1
	}
	return int(int64(binary.LittleEndian.Uint32(head[:])) - hdrLen)
}

// ReadImages reads an IDX image file (magic 0x00000803), gzipped or not, and returns
// an N x rows*cols matrix, one image per row in row-major pixel order, scaled to
// [0,1] as p/255. It accepts any image size; Load insists on 28x28.
func ReadImages(path string) (*tensor.Matrix[float64], error) {
	x, _, _, err := readImages(path)
	return x, err
}

func readImages(path string) (x *tensor.Matrix[float64], rows, cols int, err error) {
	dims, pixels, err := readIDXFile(path, imagesKind)
	if err != nil {
		return nil, 0, 0, err
	}
	return imagesMatrix(dims, pixels), dims[1], dims[2], nil
}

// imagesMatrix scales decoded pixels into an N x rows*cols matrix.
func imagesMatrix(dims []int, pixels []byte) *tensor.Matrix[float64] {
	data := make([]float64, len(pixels))
	scalePixels(data, pixels)
	return tensor.New[float64](dims[0], dims[1]*dims[2], data)
}

// scalePixels sets dst[i] = src[i]/255. It is exempt from the race detector, which
// would otherwise instrument each of MNIST's 55 million pixel reads and writes and
// stretch a Load under -race to many seconds; its callers pass memory they have just
// allocated and not yet shared.
//
//go:norace
func scalePixels(dst []float64, src []byte) {
	dst = dst[:len(src)]
	for i, p := range src {
		dst[i] = unitScale[p]
	}
}

// ReadLabels reads an IDX label file (magic 0x00000801), gzipped or not. Labels are
// returned as read, 0 to 255; Load insists on digits 0 to 9.
func ReadLabels(path string) ([]int, error) {
	_, raw, err := readIDXFile(path, labelsKind)
	if err != nil {
		return nil, err
	}
	return labelInts(raw), nil
}

func labelInts(raw []byte) []int {
	labels := make([]int, len(raw))
	for i, b := range raw {
		labels[i] = int(b)
	}
	return labels
}
