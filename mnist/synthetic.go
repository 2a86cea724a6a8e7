package mnist

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/pcnet/pcnet/tensor"
)

// syntheticNoise is the standard deviation of the Gaussian noise around each class
// prototype. Prototypes are uniform in [0,1]^dim, so with a dozen or more dimensions
// the classes are far apart relative to the noise and a small MLP separates them
// within an epoch or two; with very few dimensions they overlap.
const syntheticNoise = 0.15

// Synthetic returns n seeded examples of dim features in [0,1] and classes classes:
// each class has a random prototype in [0,1]^dim and each example is its class's
// prototype plus Gaussian noise, clipped to [0,1]. Classes are balanced (example i
// has class i mod classes before shuffling). It is the training set of
// SyntheticSplits with the same arguments. It panics unless n, dim, classes >= 1.
func Synthetic(n, dim, classes int, seed uint64) *Dataset {
	checkSynthetic(dim, classes, n)
	protos := syntheticPrototypes(dim, classes, seed)
	return syntheticSample("synthetic", protos, n, seed, 1)
}

// SyntheticSplits returns three synthetic sets drawn around the same class
// prototypes, from independent random streams. It panics unless every size, dim and
// classes are at least 1.
func SyntheticSplits(nTrain, nVal, nTest, dim, classes int, seed uint64) *Splits {
	checkSynthetic(dim, classes, nTrain, nVal, nTest)
	protos := syntheticPrototypes(dim, classes, seed)
	return &Splits{
		Train:      syntheticSample("train", protos, nTrain, seed, 1),
		Validation: syntheticSample("validation", protos, nVal, seed, 2),
		Test:       syntheticSample("test", protos, nTest, seed, 3),
	}
}

func checkSynthetic(dim, classes int, sizes ...int) {
	if dim < 1 || classes < 1 || slices.Min(sizes) < 1 {
		panic(fmt.Sprintf("mnist: synthetic data needs sizes, dim and classes >= 1, got sizes %v, dim %d, classes %d",
			sizes, dim, classes))
	}
}

// syntheticPrototypes draws one row per class, uniform in [0,1]^dim, from stream 0.
func syntheticPrototypes(dim, classes int, seed uint64) *tensor.Matrix[float64] {
	rng := rand.New(rand.NewPCG(seed, 0))
	protos := tensor.New[float64](classes, dim, nil)
	for c := range classes {
		for j, row := 0, protos.Row(c); j < dim; j++ {
			row[j] = rng.Float64()
		}
	}
	return protos
}

// syntheticSample draws n examples around protos from stream seq.
func syntheticSample(name string, protos *tensor.Matrix[float64], n int, seed, seq uint64) *Dataset {
	classes, dim := protos.Dims()
	rng := rand.New(rand.NewPCG(seed, seq))
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % classes
	}
	rng.Shuffle(n, func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	x := tensor.New[float64](n, dim, nil)
	for i, c := range labels {
		row, proto := x.Row(i), protos.Row(c)
		for j := range row {
			row[j] = min(1, max(0, proto[j]+syntheticNoise*rng.NormFloat64()))
		}
	}
	return &Dataset{Name: name, Labels: labels, Classes: classes, x: x, dim: dim}
}
