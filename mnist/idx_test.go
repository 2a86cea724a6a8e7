package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxImages encodes an IDX image file.
func idxImages(count, rows, cols uint32, pixels []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, imagesMagic)
	b = binary.BigEndian.AppendUint32(b, count)
	b = binary.BigEndian.AppendUint32(b, rows)
	b = binary.BigEndian.AppendUint32(b, cols)
	return append(b, pixels...)
}

// idxLabels encodes an IDX label file.
func idxLabels(labels []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, labelsMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(labels)))
	return append(b, labels...)
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// randomBytes returns n seeded bytes below limit.
func randomBytes(n int, limit uint, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(limit))
	}
	return b
}

// digitImages returns n MNIST-sized images that compress like digits: mostly zeros.
func digitImages(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n*Pixels)
	for i := range b {
		if rng.IntN(5) == 0 {
			b[i] = byte(rng.IntN(256))
		}
	}
	return b
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func flip(b []byte, at ...int) []byte {
	c := bytes.Clone(b)
	for _, i := range at {
		c[i] ^= 0xff
	}
	return c
}

func TestReadRoundTrip(t *testing.T) {
	pixels := randomBytes(5*3*4, 256, 1)
	pixels[0], pixels[1] = 0, 255 // both ends of the scale
	labels := randomBytes(7, 256, 2)
	images := idxImages(5, 3, 4, pixels)
	tests := []struct {
		name           string
		images, labels []byte
	}{
		{"plain", images, idxLabels(labels)},
		{"gzip", gzipped(t, images), gzipped(t, idxLabels(labels))},
		{"multi-member gzip", append(gzipped(t, images[:10]), gzipped(t, images[10:])...), gzipped(t, idxLabels(labels))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// The names lie about compression on purpose: detection is by content.
			x, err := ReadImages(writeFile(t, dir, "images.gz", tt.images))
			require.NoError(t, err)
			r, c := x.Dims()
			require.Equal(t, []int{5, 12}, []int{r, c})
			for i := range r {
				for j := range c {
					require.Equal(t, float64(pixels[i*c+j])/255, x.At(i, j), "pixel (%d,%d)", i, j)
				}
			}
			require.Equal(t, 0.0, x.At(0, 0))
			require.Equal(t, 1.0, x.At(0, 1))

			got, err := ReadLabels(writeFile(t, dir, "labels", tt.labels))
			require.NoError(t, err)
			want := make([]int, len(labels))
			for i, l := range labels {
				want[i] = int(l)
			}
			require.Equal(t, want, got)
		})
	}
}

func TestReadBadFiles(t *testing.T) {
	pixels := digitImages(3, 3)
	images := idxImages(3, Rows, Cols, pixels)
	imagesGz := gzipped(t, images)
	labels := idxLabels([]byte{1, 2, 3})
	readImages := func(p string) error { _, err := ReadImages(p); return err }
	readLabels := func(p string) error { _, err := ReadLabels(p); return err }

	tests := []struct {
		name    string
		data    []byte // nil: the file does not exist
		read    func(path string) error
		wantIs  error
		wantMsg []string
	}{
		{"labels read as images", labels, readImages, ErrMagic,
			[]string{"wrong magic number", "got 0x00000801 (IDX labels), want 0x00000803 (IDX images)"}},
		{"images read as labels", images, readLabels, ErrMagic,
			[]string{"wrong magic number", "got 0x00000803 (IDX images), want 0x00000801 (IDX labels)"}},
		{"text file", []byte("<html>not found</html>"), readImages, ErrMagic,
			[]string{"wrong magic number", "(not IDX)"}},
		{"gzipped wrong magic", gzipped(t, labels), readImages, ErrMagic,
			[]string{"wrong magic number"}},
		{"wrong magic in short file", images[:6], readLabels, ErrMagic,
			[]string{"wrong magic number"}},
		{"empty file", []byte{}, readImages, ErrTruncated,
			[]string{"truncated file: IDX header ends after 0 of 16 bytes"}},
		{"truncated header", images[:10], readImages, ErrTruncated,
			[]string{"truncated file: IDX header ends after 10 of 16 bytes"}},
		{"truncated label header", labels[:6], readLabels, ErrTruncated,
			[]string{"truncated file: IDX header ends after 6 of 8 bytes"}},
		{"truncated pixel data", images[:len(images)-100], readImages, ErrTruncated,
			[]string{"truncated file: pixel data (header says 3 images of 28x28) ends after 2252 of 2352 bytes"}},
		{"truncated label data", labels[:len(labels)-1], readLabels, ErrTruncated,
			[]string{"truncated file: label data (header says 3 labels) ends after 2 of 3 bytes"}},
		{"truncated gzip stream", imagesGz[:len(imagesGz)/2], readImages, ErrTruncated,
			[]string{"truncated gzip stream", "pixel data"}},
		{"truncated gzip trailer", imagesGz[:len(imagesGz)-4], readImages, ErrTruncated,
			[]string{"truncated gzip stream: gzip trailer cut short"}},
		{"gzip magic only", imagesGz[:2], readImages, ErrTruncated,
			[]string{"truncated gzip stream: gzip header cut short"}},
		{"bad gzip header", flip(imagesGz, 2), readImages, ErrCorrupt,
			[]string{"corrupt gzip stream in gzip header"}},
		{"bad gzip CRC", flip(imagesGz, len(imagesGz)-8), readImages, ErrCorrupt,
			[]string{"corrupt gzip stream", "invalid checksum"}},
		{"gzip flipped in the middle", flip(imagesGz, len(imagesGz)/2, len(imagesGz)/2+1), readImages, ErrCorrupt,
			[]string{"corrupt gzip stream"}},
		{"gzip flipped early", flip(imagesGz, 40), readImages, ErrCorrupt,
			[]string{"corrupt gzip stream"}},
		{"trailing bytes", append(bytes.Clone(images), 0), readImages, ErrFormat,
			[]string{"trailing bytes after the 2352-byte payload the header promises (3 images of 28x28)"}},
		{"trailing gzip member", append(bytes.Clone(imagesGz), gzipped(t, []byte{7})...), readImages, ErrFormat,
			[]string{"trailing bytes"}},
		{"zero rows", idxImages(3, 0, 28, nil), readImages, ErrFormat,
			[]string{"header says 3 images of 0x28: zero-sized images"}},
		{"no labels", idxLabels(nil), readLabels, ErrFormat,
			[]string{"header says 0 labels: nothing to read"}},
		{"absurd count", idxImages(5_000_000, Rows, Cols, pixels), readImages, ErrTruncated,
			[]string{"pixel data (header says 5000000 images of 28x28) ends after 2352 of 3920000000 bytes"}},
		{"count over the limit", idxImages(0xffffffff, Rows, Cols, pixels), readImages, ErrFormat,
			[]string{"header says 4294967295 images of 28x28, more than the 4294967296-byte limit"}},
		{"absurd dims", idxImages(0xffffffff, 0xffffffff, 0xffffffff, pixels), readImages, ErrFormat,
			[]string{"header says 4294967295 images of 4294967295x4294967295, more than the 4294967296-byte limit"}},
		{"missing file", nil, readImages, fs.ErrNotExist,
			[]string{"no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad-idx-file")
			if tt.data != nil {
				writeFile(t, filepath.Dir(path), filepath.Base(path), tt.data)
			}
			err := tt.read(path)
			require.Error(t, err)
			t.Log(err)
			require.ErrorIs(t, err, tt.wantIs)
			require.Contains(t, err.Error(), path, "the error must name the file")
			for _, m := range tt.wantMsg {
				require.Contains(t, err.Error(), m)
			}
		})
	}
}

// TestReadAbsurdHeaderAllocatesLittle checks that a header promising gigabytes costs
// only what the file holds, not what it promises.
func TestReadAbsurdHeaderAllocatesLittle(t *testing.T) {
	data := idxImages(0xffffffff, 0xffff, 0xffff>>4, make([]byte, 1000)) // ~1 TB promised
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := decodeIDX(bytes.NewReader(data), imagesKind, -1)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrFormat) // over the 4 GiB cap
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20))

	data = idxImages(5_000_000, Rows, Cols, make([]byte, 1000)) // 3.9 GB promised
	runtime.ReadMemStats(&before)
	_, _, err = decodeIDX(bytes.NewReader(data), imagesKind, -1)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrTruncated)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20))
}

// FuzzReadIDX feeds arbitrary files to the decoder as both kinds. It must never panic,
// must fail only with the package's own errors, must decode exactly what it was given,
// and must allocate in proportion to the decompressed input, never to the header.
func FuzzReadIDX(f *testing.F) {
	images := idxImages(2, 3, 2, []byte{0, 1, 2, 253, 254, 255, 9, 8, 7, 6, 5, 4})
	labels := idxLabels([]byte{0, 9, 3})
	for _, seed := range [][]byte{
		images, labels, gzipped(f, images), gzipped(f, labels),
		images[:9], labels[:len(labels)-1], append(bytes.Clone(images), 1),
		idxImages(0xffffffff, 28, 28, []byte{1, 2, 3}), idxLabels(nil), idxImages(1, 0, 1, nil),
		gzipped(f, images)[:20], flip(gzipped(f, images), 12), {0x1f, 0x8b}, {},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, _ := inflated(data)
		for _, kind := range []idxKind{imagesKind, labelsKind} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			dims, payload, err := decodeIDX(bytes.NewReader(data), kind, -1)
			runtime.ReadMemStats(&after)
			if used, limit := after.TotalAlloc-before.TotalAlloc, uint64(4<<20+4*len(plain)); used > limit {
				t.Fatalf("%s: allocated %d bytes for %d bytes of input (%d inflated), limit %d",
					kind.name, used, len(data), len(plain), limit)
			}
			if err != nil {
				if !errors.Is(err, ErrMagic) && !errors.Is(err, ErrTruncated) &&
					!errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
					t.Fatalf("%s: unclassified error: %v", kind.name, err)
				}
				continue
			}
			// Success means the inflated input is exactly header + payload.
			want := binary.BigEndian.AppendUint32(nil, kind.magic)
			size := 1
			for _, d := range dims {
				want = binary.BigEndian.AppendUint32(want, uint32(d))
				size *= d
			}
			require.Len(t, payload, size)
			require.Equal(t, append(want, payload...), plain)
			if kind == imagesKind {
				x := imagesMatrix(dims, payload)
				for i, v := range x.Data {
					if v != float64(payload[i])/255 {
						t.Fatalf("pixel %d: got %v, want %d/255", i, v, payload[i])
					}
				}
			}
		}
	})
}

// inflated returns data gunzipped if it looks gzipped, as far as it decodes: the
// yardstick for how much the decoder may allocate.
func inflated(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// TestPayloadHint checks the size a file vouches for apart from its header, and that a
// file whose header and trailer agree is read into one allocation of its payload's size
// (doubling would allocate about twice that), while every other file still decodes.
func TestPayloadHint(t *testing.T) {
	pixels := randomBytes(3*Rows*Cols, 256, 7) // 2,352 bytes: past one doubling of nothing
	images := idxImages(3, Rows, Cols, pixels)
	twoMembers := append(gzipped(t, images[:100]), gzipped(t, images[100:])...)
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"plain", images, len(pixels)},
		{"gzip", gzipped(t, images), len(pixels)},
		{"gzip of two members", twoMembers, len(images) - 100 - 16}, // the last member's size
		{"plain, truncated", images[:1000], 1000 - 16},
		{"tiny", []byte{1, 2}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "images")
			require.NoError(t, os.WriteFile(path, tc.data, 0o644))
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			require.Equal(t, tc.want, payloadHint(f, imagesKind))
		})
	}
	// Several members: the hint disagrees with the header, the decoder grows its buffer
	// and still returns every byte.
	path := filepath.Join(t.TempDir(), "two.gz")
	require.NoError(t, os.WriteFile(path, twoMembers, 0o644))
	_, got, err := readIDXFile(path, imagesKind)
	require.NoError(t, err)
	require.Equal(t, pixels, got)
}

// TestAgreeingSizesReadInOneAllocation reads a 4 MB payload whose gzip trailer agrees
// with its header: one allocation of the payload, not the doubling's two payloads'
// worth.
func TestAgreeingSizesReadInOneAllocation(t *testing.T) {
	const n = 5000
	pixels := randomBytes(n*Rows*Cols, 256, 11)
	path := filepath.Join(t.TempDir(), "images.gz")
	require.NoError(t, os.WriteFile(path, gzipped(t, idxImages(n, Rows, Cols, pixels)), 0o644))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, got, err := readIDXFile(path, imagesKind)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, pixels, got)
	used := after.TotalAlloc - before.TotalAlloc
	require.Less(t, used, uint64(len(pixels))+1<<20, "allocated %d bytes for a %d-byte payload", used, len(pixels))
}
