package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/mat"
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

// Dataset is a set of labelled examples, one per row of X.
type Dataset struct {
	Name    string     // "train", "validation", "test", "synthetic", ...
	X       *mat.Dense // N x D, features in [0,1]
	Labels  []int      // N, each in [0, Classes)
	Classes int
}

// Len is the number of examples N.
func (d *Dataset) Len() int { return len(d.Labels) }

// Dim is the number of features D per example.
func (d *Dataset) Dim() int {
	if d.X == nil {
		return 0
	}
	_, c := d.X.Dims()
	return c
}

// Head returns the first n examples as views into d (no copy); n > Len() gives the
// whole set. It panics if n < 1, since a matrix cannot have zero rows.
func (d *Dataset) Head(n int) *Dataset {
	if n < 1 {
		panic(fmt.Sprintf("mnist: %s.Head(%d): n must be at least 1", d.Name, n))
	}
	n = min(n, d.Len())
	return &Dataset{
		Name:    d.Name,
		X:       d.X.Slice(0, n, 0, d.Dim()).(*mat.Dense),
		Labels:  d.Labels[:n:n],
		Classes: d.Classes,
	}
}

// rows returns examples [i, k) as views into d.
func (d *Dataset) rows(name string, i, k int) *Dataset {
	return &Dataset{
		Name:    name,
		X:       d.X.Slice(i, k, 0, d.Dim()).(*mat.Dense),
		Labels:  d.Labels[i:k:k],
		Classes: d.Classes,
	}
}

// Splits are the three sets of an experiment.
type Splits struct{ Train, Validation, Test *Dataset }

// Load reads the four MNIST files from dir ("" means LocateGoMNIST) and splits them
// into 55,000 training images, 5,000 validation images (the last 5,000 of the
// training file) and the 10,000 test images. Train and Validation share one matrix.
// In dir, each file may also be stored without its .gz suffix, gzipped or not.
func Load(dir string) (*Splits, error) {
	if dir == "" {
		located, err := LocateGoMNIST()
		if err != nil {
			return nil, err
		}
		dir = located
	}
	var (
		trainX, testX           *mat.Dense
		trainLabels, testLabels []int
	)
	// The two image files dominate (gunzip and scaling); reading them side by side
	// roughly halves Load on two cores.
	var g errgroup.Group
	g.Go(func() (err error) {
		trainX, err = readMNISTImages(findFile(dir, TrainImagesFile))
		return err
	})
	g.Go(func() (err error) {
		testX, err = readMNISTImages(findFile(dir, TestImagesFile))
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
			return nil, fmt.Errorf("%w (pass -data DIR with the four MNIST files, or \"\" to use the module cache)", err)
		}
		return nil, err
	}

	train := &Dataset{Name: "train", X: trainX, Labels: trainLabels, Classes: Classes}
	test := &Dataset{Name: "test", X: testX, Labels: testLabels, Classes: Classes}
	if err := checkCounts(train, findFile(dir, TrainImagesFile), findFile(dir, TrainLabelsFile)); err != nil {
		return nil, err
	}
	if err := checkCounts(test, findFile(dir, TestImagesFile), findFile(dir, TestLabelsFile)); err != nil {
		return nil, err
	}
	n := train.Len()
	if n <= ValidationSize {
		return nil, fmt.Errorf("mnist: %s: %w: %d training images, need more than the %d held out for validation",
			findFile(dir, TrainImagesFile), ErrNotMNIST, n, ValidationSize)
	}
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

func readMNISTImages(path string) (*mat.Dense, error) {
	x, rows, cols, err := readImages(path)
	if err != nil {
		return nil, err
	}
	if rows != Rows || cols != Cols {
		return nil, fmt.Errorf("mnist: %s: %w: images are %dx%d, want %dx%d", path, ErrNotMNIST, rows, cols, Rows, Cols)
	}
	return x, nil
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

func checkCounts(d *Dataset, imagesPath, labelsPath string) error {
	if r, _ := d.X.Dims(); r != len(d.Labels) {
		return fmt.Errorf("mnist: %s holds %d images but %s holds %d labels: %w: counts differ",
			imagesPath, r, labelsPath, len(d.Labels), ErrNotMNIST)
	}
	return nil
}
