package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pcnet/pcnet/tensor"
	"golang.org/x/sync/errgroup"
)

// MNIST's shape.
const (
	Rows    = 28
	Cols    = 28
	Pixels  = Rows * Cols
	Classes = 10

	// ValidationSize is how many of the training file's images, the last ones,
	// Load holds out for validation.
	ValidationSize = 5000
)

// Dataset is a set of labelled examples. Its features are stored either as float64
// (NewDataset: synthetic data) or as the image files' bytes (NewImages: MNIST's 47 MB
// of training pixels rather than 345 MB as float64); Row and Rows convert them into
// float64 on the way out, pixel p as p/255, so both read the same to a consumer
// (RowsInto: in float32 or float64).
type Dataset struct {
	Name    string // "train", "validation", "test", "synthetic", ...
	Labels  []int  // N, each in [0, Classes)
	Classes int

	// Exactly one of x and pixels holds the features.
	x      *tensor.Matrix[float64] // N x dim
	pixels []uint8                 // N*dim bytes, example i at [i*dim, (i+1)*dim)
	dim    int
}

// NewDataset returns a dataset of float64 features, one example per row of x (not
// copied), features in [0,1] by convention.
func NewDataset(name string, x *tensor.Matrix[float64], labels []int, classes int) (*Dataset, error) {
	if x == nil {
		return nil, fmt.Errorf("mnist: NewDataset(%s): nil matrix", name)
	}
	r, c := x.Dims()
	if r != len(labels) {
		return nil, fmt.Errorf("mnist: NewDataset(%s): %d rows in x but %d labels", name, r, len(labels))
	}
	return &Dataset{Name: name, Labels: labels, Classes: classes, x: x, dim: c}, nil
}

// NewImages returns a dataset of images stored as bytes (not copied): example i is
// pixels[i*dim:(i+1)*dim], and its features are those bytes divided by 255.
func NewImages(name string, pixels []uint8, dim int, labels []int, classes int) (*Dataset, error) {
	switch {
	case dim < 1 || len(labels) < 1:
		return nil, fmt.Errorf("mnist: NewImages(%s): %d labels of %d pixels each, want at least 1 of each", name, len(labels), dim)
	case len(pixels) != dim*len(labels):
		return nil, fmt.Errorf("mnist: NewImages(%s): %d bytes are not %d images of %d pixels", name, len(pixels), len(labels), dim)
	}
	return &Dataset{Name: name, Labels: labels, Classes: classes, pixels: pixels, dim: dim}, nil
}

// Len is the number of examples N.
func (d *Dataset) Len() int { return len(d.Labels) }

// Dim is the number of features D per example.
func (d *Dataset) Dim() int { return d.dim }

// Row writes example i's D features into dst[:D]. It allocates nothing. It panics if
// i is not in [0, Len()) or dst is shorter than D.
func (d *Dataset) Row(i int, dst []float64) {
	if d.x != nil {
		copy(dst[:d.dim], d.x.Row(i))
		return
	}
	// The same table as ReadImages: every consumer sees the float64 values MNIST has
	// always been read as, bit for bit.
	dst = dst[:d.dim]
	for j, p := range d.pixels[i*d.dim : (i+1)*d.dim] {
		dst[j] = unitScale[p]
	}
}

// stored is the number of examples the features hold.
func (d *Dataset) stored() int {
	if d.x != nil {
		r, _ := d.x.Dims()
		return r
	}
	return len(d.pixels) / d.dim
}

// Rows writes examples [i, k) into dst, a (k-i) x D matrix, and returns it; dst nil
// makes a new one. It never shares memory with d, so callers may change the result.
// It panics unless 0 <= i < k <= Len() and dst has the right shape.
func (d *Dataset) Rows(i, k int, dst *tensor.Matrix[float64]) *tensor.Matrix[float64] {
	return RowsInto(d, i, k, dst)
}

// RowsInto is Rows in precision T: a pixel p becomes T(p)/T(255), computed in T as
// torchvision's ToTensor does (img.float().div(255)); float64 features are converted to T.
// For float64 it is Rows. (For float32, rounding d's float64 p/255 would give the same
// values: double rounding is harmless for a quotient when the wide format has more than
// twice the narrow one's precision plus two bits.)
func RowsInto[T tensor.Float](d *Dataset, i, k int, dst *tensor.Matrix[T]) *tensor.Matrix[T] {
	if i < 0 || k <= i || k > d.Len() {
		panic(fmt.Sprintf("mnist: %s.Rows(%d, %d): want 0 <= i < k <= %d", d.Name, i, k, d.Len()))
	}
	if dst == nil {
		dst = tensor.New[T](k-i, d.dim, nil)
	}
	if r, c := dst.Dims(); r != k-i || c != d.dim {
		panic(fmt.Sprintf("mnist: %s.Rows(%d, %d): destination is %dx%d, want %dx%d", d.Name, i, k, r, c, k-i, d.dim))
	}
	for r := range k - i {
		rowInto(d, i+r, dst.Row(r))
	}
	return dst
}

// rowInto converts example i into out as RowsInto does.
func rowInto[T tensor.Float](d *Dataset, i int, out []T) {
	if d.x != nil {
		tensor.ConvertSlice(out, d.x.Row(i))
		return
	}
	for j, p := range d.pixels[i*d.dim : (i+1)*d.dim] {
		out[j] = T(p) / 255
	}
}

// Head returns the first n examples as views into d (no copy); n > Len() gives the
// whole set. It panics if n < 1, since a matrix cannot have zero rows.
func (d *Dataset) Head(n int) *Dataset {
	if n < 1 {
		panic(fmt.Sprintf("mnist: %s.Head(%d): n must be at least 1", d.Name, n))
	}
	return d.rows(d.Name, 0, min(n, d.Len()))
}

// rows returns examples [i, k) as views into d.
func (d *Dataset) rows(name string, i, k int) *Dataset {
	v := &Dataset{Name: name, Labels: d.Labels[i:k:k], Classes: d.Classes, dim: d.dim}
	if d.x != nil {
		v.x = d.x.SliceRows(i, k)
	} else {
		v.pixels = d.pixels[i*d.dim : k*d.dim]
	}
	return v
}

// Splits are the three sets of an experiment.
type Splits struct{ Train, Validation, Test *Dataset }

// The datasets LoadDataset knows by name. Both are four IDX files of 28x28 grey
// images in ten classes, under the same file names.
const (
	MNIST   = "mnist"   // the handwritten digits, from the module cache
	Fashion = "fashion" // Fashion-MNIST's clothing, from Debian's dataset-fashion-mnist
)

// FashionDir is where Debian's package dataset-fashion-mnist puts the four files.
const FashionDir = "/usr/share/datasets/fashion-mnist"

// fashionDir is FashionDir, a variable for tests.
var fashionDir = FashionDir

// DatasetNames lists the names LoadDataset accepts, the default first.
func DatasetNames() []string { return []string{MNIST, Fashion} }

// CheckDatasetName reports whether name is one of DatasetNames; "" is MNIST.
func CheckDatasetName(name string) error {
	if name == "" || slices.Contains(DatasetNames(), name) {
		return nil
	}
	return fmt.Errorf("unknown dataset %q (want %s)", name, strings.Join(DatasetNames(), " or "))
}

// LoadDataset loads the dataset name ("" is MNIST) from dir, or when dir is "" from
// its usual place: MNIST from the Go module cache (LocateGoMNIST), Fashion-MNIST from
// FashionDir. It splits it as Load does.
func LoadDataset(name, dir string) (*Splits, error) {
	if err := CheckDatasetName(name); err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	if name != Fashion {
		return Load(dir)
	}
	if dir == "" {
		if !hasMNISTFiles(fashionDir) {
			return nil, fmt.Errorf("mnist: Fashion-MNIST not found in %s: %w; install Debian's package dataset-fashion-mnist "+
				"(apt-get install dataset-fashion-mnist) or pass -data DIR (a folder holding %s)",
				fashionDir, fs.ErrNotExist, strings.Join(mnistFiles, ", "))
		}
		dir = fashionDir
	}
	return loadDir(dir)
}

// Load reads the four MNIST files from dir ("" means LocateGoMNIST) and splits them
// into 55,000 training images, 5,000 validation images (the last 5,000 of the
// training file) and the 10,000 test images. Train and Validation share one array
// of bytes: images stay bytes in memory (see Dataset). In dir, each file may also be
// stored without its .gz suffix, gzipped or not.
func Load(dir string) (*Splits, error) {
	if dir == "" {
		located, err := LocateGoMNIST()
		if err != nil {
			return nil, err
		}
		dir = located
	}
	return loadDir(dir)
}

// loadDir reads and splits the four files in dir.
func loadDir(dir string) (*Splits, error) {
	var (
		trainPixels, testPixels []byte
		trainLabels, testLabels []int
	)
	// The two image files dominate (gunzip); reading them side by side roughly halves
	// Load on two cores.
	var g errgroup.Group
	g.Go(func() (err error) {
		trainPixels, err = readMNISTImages(findFile(dir, TrainImagesFile))
		return err
	})
	g.Go(func() (err error) {
		testPixels, err = readMNISTImages(findFile(dir, TestImagesFile))
		return err
	})
	g.Go(func() (err error) {
		if trainLabels, err = readMNISTLabels(findFile(dir, TrainLabelsFile)); err != nil {
			return err
		}
		testLabels, err = readMNISTLabels(findFile(dir, TestLabelsFile))
		return err
	})
	if err := g.Wait(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (pass -data DIR with the four IDX files, or \"\" for the dataset's usual place)", err)
		}
		return nil, err
	}

	if err := checkCounts(trainPixels, trainLabels, findFile(dir, TrainImagesFile), findFile(dir, TrainLabelsFile)); err != nil {
		return nil, err
	}
	if err := checkCounts(testPixels, testLabels, findFile(dir, TestImagesFile), findFile(dir, TestLabelsFile)); err != nil {
		return nil, err
	}
	n := len(trainLabels)
	if n <= ValidationSize {
		return nil, fmt.Errorf("mnist: %s: %w: %d training images, need more than the %d held out for validation",
			findFile(dir, TrainImagesFile), ErrNotMNIST, n, ValidationSize)
	}
	train := &Dataset{Name: "train", Labels: trainLabels, Classes: Classes, pixels: trainPixels, dim: Pixels}
	test := &Dataset{Name: "test", Labels: testLabels, Classes: Classes, pixels: testPixels, dim: Pixels}
	return &Splits{
		Train:      train.rows("train", 0, n-ValidationSize),
		Validation: train.rows("validation", n-ValidationSize, n),
		Test:       test,
	}, nil
}

// findFile returns dir/name, or dir/name without .gz when only that exists, so that
// unpacked copies of the files work too. Gzip is detected from content either way.
func findFile(dir, name string) string {
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		plain := strings.TrimSuffix(path, ".gz")
		if _, err := os.Stat(plain); err == nil {
			return plain
		}
	}
	return path
}

// readMNISTImages returns the raw pixels of a file of 28x28 images.
func readMNISTImages(path string) ([]byte, error) {
	dims, pixels, err := readIDXFile(path, imagesKind)
	if err != nil {
		return nil, err
	}
	if dims[1] != Rows || dims[2] != Cols {
		return nil, fmt.Errorf("mnist: %s: %w: images are %dx%d, want %dx%d", path, ErrNotMNIST, dims[1], dims[2], Rows, Cols)
	}
	return pixels, nil
}

func readMNISTLabels(path string) ([]int, error) {
	labels, err := ReadLabels(path)
	if err != nil {
		return nil, err
	}
	for i, l := range labels {
		if l >= Classes {
			return nil, fmt.Errorf("mnist: %s: %w: label %d at index %d is not a digit 0-9", path, ErrNotMNIST, l, i)
		}
	}
	return labels, nil
}

func checkCounts(pixels []byte, labels []int, imagesPath, labelsPath string) error {
	if r := len(pixels) / Pixels; r != len(labels) {
		return fmt.Errorf("mnist: %s holds %d images but %s holds %d labels: %w: counts differ",
			imagesPath, r, labelsPath, len(labels), ErrNotMNIST)
	}
	return nil
}
