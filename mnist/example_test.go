package mnist_test

import (
	"fmt"
	"log"

	"github.com/pcnet/pcnet/mnist"
)

func ExampleLoader() {
	d := mnist.Synthetic(100, 784, 10, 1)
	l, err := mnist.NewLoader(d, 32, true, 7)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Name, d.Len(), d.Dim(), l.NumBatches(), "batches")
	for epoch := range 2 {
		l.SetEpoch(epoch)
		for i := range l.NumBatches() {
			x, labels := l.Batch(i)
			r, c := x.Dims()
			fmt.Printf("epoch %d batch %d: x %dx%d, %d labels\n", epoch, i, r, c, len(labels))
		}
	}
	// Output:
	// synthetic 100 784 4 batches
	// epoch 0 batch 0: x 32x784, 32 labels
	// epoch 0 batch 1: x 32x784, 32 labels
	// epoch 0 batch 2: x 32x784, 32 labels
	// epoch 0 batch 3: x 4x784, 4 labels
	// epoch 1 batch 0: x 32x784, 32 labels
	// epoch 1 batch 1: x 32x784, 32 labels
	// epoch 1 batch 2: x 32x784, 32 labels
	// epoch 1 batch 3: x 4x784, 4 labels
}

func ExampleSyntheticSplits() {
	s := mnist.SyntheticSplits(550, 50, 100, 784, 10, 1)
	for _, d := range []*mnist.Dataset{s.Train, s.Validation, s.Test} {
		fmt.Println(d.Name, d.Len(), d.Dim(), d.Classes)
	}
	// Output:
	// train 550 784 10
	// validation 50 784 10
	// test 100 784 10
}

// Load with "" finds the files in the module cache; a folder holding the four files
// works too.
func ExampleLoad() {
	s, err := mnist.Load("")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Train.Len(), s.Validation.Len(), s.Test.Len())
}
