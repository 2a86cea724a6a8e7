package mnist

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// Images kept as bytes read exactly as the float64 matrix ReadImages makes of the same
// file: p/255, bit for bit, through Row, Rows and a Loader's batches.
func TestImagesReadAsFloats(t *testing.T) {
	const n, rows, cols = 7, 3, 5
	pixels := randomBytes(n*rows*cols, 256, 11)
	pixels[0], pixels[1] = 0, 255
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 3
	}
	d, err := NewImages("bytes", pixels, rows*cols, labels, 3)
	require.NoError(t, err)
	require.Equal(t, []int{n, rows * cols}, []int{d.Len(), d.Dim()})

	for _, gz := range []bool{false, true} {
		file := idxImages(n, rows, cols, pixels)
		if gz {
			file = gzipped(t, file)
		}
		want, err := ReadImages(writeFile(t, t.TempDir(), "images", file))
		require.NoError(t, err)
		require.Equal(t, want.Data, d.Rows(0, n, nil).Data, "gzip %v", gz)
	}
	want := make([]float64, len(pixels))
	for i, p := range pixels {
		want[i] = float64(p) / 255
	}
	require.Equal(t, want, d.Rows(0, n, nil).Data)
	require.Equal(t, want[2*rows*cols:4*rows*cols], d.Rows(2, 4, tensor.New[float64](2, rows*cols, nil)).Data)
	row := make([]float64, rows*cols)
	d.Row(6, row)
	require.Equal(t, want[6*rows*cols:], row)

	// The Loader serves the same rows as a float64 dataset of the same values.
	f, err := NewDataset("floats", tensor.New[float64](n, rows*cols, want), labels, 3)
	require.NoError(t, err)
	lb, err := NewLoader(d, 3, true, 5)
	require.NoError(t, err)
	lf, err := NewLoader(f, 3, true, 5)
	require.NoError(t, err)
	for i := range lb.NumBatches() {
		xb, yb := lb.Batch(i)
		xb = xb.Clone()
		xf, yf := lf.Batch(i)
		require.Equal(t, xf.Clone().Data, xb.Data, "batch %d", i)
		require.Equal(t, yf, yb, "batch %d", i)
	}

	// A head is a view of the same bytes.
	h := d.Head(2)
	require.Equal(t, 2, h.Len())
	require.Same(t, &d.pixels[0], &h.pixels[0])
	require.Equal(t, want[:2*rows*cols], h.Rows(0, 2, nil).Data)
}

func TestNewDatasetErrors(t *testing.T) {
	tests := []struct {
		name string
		make func() (*Dataset, error)
		want string
	}{
		{"nil matrix", func() (*Dataset, error) { return NewDataset("a", nil, nil, 2) }, "mnist: NewDataset(a): nil matrix"},
		{"rows and labels differ", func() (*Dataset, error) { return NewDataset("b", tensor.New[float64](3, 2, nil), []int{0, 1}, 2) },
			"mnist: NewDataset(b): 3 rows in x but 2 labels"},
		{"no labels", func() (*Dataset, error) { return NewImages("c", nil, 4, nil, 2) },
			"mnist: NewImages(c): 0 labels of 4 pixels each, want at least 1 of each"},
		{"no pixels per image", func() (*Dataset, error) { return NewImages("d", nil, 0, []int{1}, 2) },
			"mnist: NewImages(d): 1 labels of 0 pixels each, want at least 1 of each"},
		{"bytes and labels differ", func() (*Dataset, error) { return NewImages("e", make([]byte, 7), 4, []int{0, 1}, 2) },
			"mnist: NewImages(e): 7 bytes are not 2 images of 4 pixels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.make()
			require.Nil(t, d)
			require.EqualError(t, err, tt.want)
		})
	}
	d := Synthetic(4, 3, 2, 1)
	require.PanicsWithValue(t, "mnist: synthetic.Rows(2, 5): want 0 <= i < k <= 4", func() { d.Rows(2, 5, nil) })
	require.PanicsWithValue(t, "mnist: synthetic.Rows(1, 3): destination is 3x3, want 2x3", func() { d.Rows(1, 3, tensor.New[float64](3, 3, nil)) })
}

// In steady state a Loader allocates nothing, whichever way its dataset stores features.
func TestLoaderAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pixels := make([]byte, 1000*64)
	for i := range pixels {
		pixels[i] = byte(rng.UintN(256))
	}
	images, err := NewImages("images", pixels, 64, Synthetic(1000, 1, 10, 1).Labels, 10)
	require.NoError(t, err)
	for _, d := range []*Dataset{Synthetic(1000, 64, 10, 1), images} {
		l, err := NewLoader(d, 64, true, 1) // 15 full batches and one of 40
		require.NoError(t, err)
		epoch := 0
		allocs := testing.AllocsPerRun(10, func() {
			epoch++
			l.SetEpoch(epoch)
			for i := range l.NumBatches() {
				l.Batch(i)
			}
		})
		require.Zero(t, allocs, "%s: SetEpoch and Batch must not allocate", d.Name)
	}
}

func TestLoadDataset(t *testing.T) {
	const nTrain, nTest = ValidationSize + 4, 3
	// Training images plain, the other three files gzipped, all under the .gz names.
	files := smallMNIST(t, nTrain, nTest, false)
	plain := files.write(t)
	// ... and all of them unpacked, without the .gz suffix.
	unpacked := t.TempDir()
	for name, data := range files {
		if len(data) >= 2 && data[0] == 0x1f {
			data = gunzipFile(t, writeFile(t, t.TempDir(), "x.gz", data))
		}
		writeFile(t, unpacked, name[:len(name)-len(".gz")], data)
	}
	absent := t.TempDir()

	tests := []struct {
		name, dataset, dir string
		fashionDir         string
		want               string // error; "" loads
		wantIs             error
	}{
		{"fashion from -data, plain and gzip", Fashion, plain, absent, "", nil},
		{"fashion from -data, unpacked", Fashion, unpacked, absent, "", nil},
		{"fashion from the package path", Fashion, "", plain, "", nil},
		{"mnist from -data", MNIST, plain, absent, "", nil},
		{"default is mnist", "", unpacked, absent, "", nil},
		{"package not installed", Fashion, "", absent,
			"mnist: Fashion-MNIST not found in " + absent + ": file does not exist; install Debian's package dataset-fashion-mnist", fs.ErrNotExist},
		{"unknown dataset", "cifar", plain, absent, `mnist: unknown dataset "cifar" (want mnist or fashion)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func(old string) { fashionDir = old }(fashionDir)
			fashionDir = tt.fashionDir
			s, err := LoadDataset(tt.dataset, tt.dir)
			if tt.want != "" {
				require.Nil(t, s)
				require.ErrorContains(t, err, tt.want)
				if tt.wantIs != nil {
					require.ErrorIs(t, err, tt.wantIs)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, []int{4, ValidationSize, nTest}, []int{s.Train.Len(), s.Validation.Len(), s.Test.Len()})
			pixels, labels := digitImages(nTrain, 1), randomBytes(nTrain, Classes, 2)
			row := make([]float64, Pixels)
			for i := range nTrain {
				d, r := s.Train, i
				if i >= 4 {
					d, r = s.Validation, i-4
				}
				d.Row(r, row)
				require.Equal(t, int(labels[i]), d.Labels[r], "label %d", i)
				require.Equal(t, float64(pixels[i*Pixels+300])/255, row[300], "image %d", i)
			}
		})
	}
	require.NoError(t, CheckDatasetName(""))
	require.EqualError(t, CheckDatasetName("MNIST"), `unknown dataset "MNIST" (want mnist or fashion)`)
}

// TestLoadFashionMNIST loads the real Fashion-MNIST where Debian's package is
// installed: 60,000 and 10,000 images of ten balanced classes.
func TestLoadFashionMNIST(t *testing.T) {
	if _, err := os.Stat(filepath.Join(FashionDir, TrainImagesFile)); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	s, err := LoadDataset(Fashion, "")
	require.NoError(t, err)
	require.Equal(t, []int{55000, 5000, 10000}, []int{s.Train.Len(), s.Validation.Len(), s.Test.Len()})
	hist := make([]int, Classes)
	for _, l := range s.Test.Labels {
		hist[l]++
	}
	require.Equal(t, []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, hist, "the test set is balanced")
	// Not MNIST, whose first test image is a 7 and whose classes are not balanced: the
	// first test image of Fashion-MNIST is an ankle boot (class 9).
	require.Equal(t, 9, s.Test.Labels[0])
}
