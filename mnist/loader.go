package mnist

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/pcnet/pcnet/tensor"
)

// Loader cuts a Dataset into minibatches, in a fresh seeded order each epoch when
// shuffling. It is not safe for concurrent use.
type Loader struct {
	data    *Dataset
	batch   int // requested batch size B
	shuffle bool
	seed    uint64
	epoch   int

	src   rand.PCG
	order []int // order[k] is the example at position k of the current epoch

	// Batches are copied into x (rows = min(B, N)), images converted from bytes on
	// the way; a partial last batch is served through the view tail, built once.
	x      *tensor.Matrix[float64]
	tail   *tensor.Matrix[float64]
	labels []int
}

// NewLoader returns a Loader over d with batch size batch (at least 1). With shuffle
// false every epoch visits the examples in their stored order; with shuffle true the
// order of epoch e depends only on (seed, e). The Loader starts at epoch 0.
func NewLoader(d *Dataset, batch int, shuffle bool, seed uint64) (*Loader, error) {
	switch {
	case d == nil || d.dim == 0:
		return nil, errors.New("mnist: NewLoader: nil or empty dataset")
	case batch < 1:
		return nil, fmt.Errorf("mnist: NewLoader(%s): batch size %d, want at least 1", d.Name, batch)
	}
	if r := d.stored(); r != len(d.Labels) {
		return nil, fmt.Errorf("mnist: NewLoader(%s): %d examples stored but %d labels", d.Name, r, len(d.Labels))
	}
	n, dim := d.Len(), d.Dim()
	rows := min(batch, n)
	l := &Loader{
		data:    d,
		batch:   batch,
		shuffle: shuffle,
		seed:    seed,
		order:   make([]int, n),
		x:       tensor.New[float64](rows, dim, nil),
		labels:  make([]int, rows),
	}
	if last := n % batch; last != 0 {
		l.tail = l.x.SliceRows(0, last)
	}
	l.SetEpoch(0)
	return l, nil
}

// NumBatches is ceil(N/B); the last batch may be partial.
func (l *Loader) NumBatches() int { return (l.data.Len() + l.batch - 1) / l.batch }

// BatchSize is B.
func (l *Loader) BatchSize() int { return l.batch }

// Epoch is the epoch set last.
func (l *Loader) Epoch() int { return l.epoch }

// SetEpoch fixes the order of the examples for epoch e. It allocates nothing.
func (l *Loader) SetEpoch(e int) {
	l.epoch = e
	for i := range l.order {
		l.order[i] = i
	}
	if l.shuffle {
		l.src.Seed(l.seed, uint64(e))
		shuffleInts(&l.src, l.order)
	}
}

// shuffleInts is a Fisher-Yates shuffle on a PCG stream. It is written out, rather
// than taken from math/rand/v2, so that the order, and with it every resumed run,
// depends only on PCG's specified output and cannot change with the Go release.
func shuffleInts(src *rand.PCG, s []int) {
	for i := len(s) - 1; i > 0; i-- {
		j := boundedUint(src, uint64(i+1))
		s[i], s[j] = s[j], s[i]
	}
}

// boundedUint returns a uniform value in [0, n), n > 0, by Lemire's multiply-shift
// with rejection, which avoids the bias of a plain modulo.
func boundedUint(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// Batch copies batch i of the current epoch into the Loader's buffers and returns
// views of them: x is n x D and labels has length n, where n = B except perhaps for
// the last batch. The views stay valid until the next call to Batch. It allocates
// nothing. It panics if i is not in [0, NumBatches()).
func (l *Loader) Batch(i int) (x *tensor.Matrix[float64], labels []int) {
	idx := l.indices(i)
	for r, k := range idx {
		l.data.Row(k, l.x.Row(r))
		l.labels[r] = l.data.Labels[k]
	}
	if len(idx) < l.batch && l.tail != nil {
		return l.tail, l.labels[:len(idx)]
	}
	return l.x, l.labels[:len(idx)]
}

// indices returns the examples of batch i of the current epoch.
func (l *Loader) indices(i int) []int {
	if i < 0 || i >= l.NumBatches() {
		panic(fmt.Sprintf("mnist: Loader(%s).Batch(%d): want 0 <= i < %d", l.data.Name, i, l.NumBatches()))
	}
	start := i * l.batch
	return l.order[start:min(start+l.batch, len(l.order))]
}

// BatchInto is l.Batch in precision T: it converts batch i's images into dst's first
// rows (dst must have at least min(B, N) rows and the images' width; RowsInto's
// conversion, so that images stay bytes until a batch needs them) and returns a view of
// them and the labels, valid until the next call. It panics as Batch does.
func BatchInto[T tensor.Float](l *Loader, i int, dst *tensor.Matrix[T]) (x *tensor.Matrix[T], labels []int) {
	idx := l.indices(i)
	if r, c := dst.Dims(); r < len(idx) || c != l.data.dim {
		panic(fmt.Sprintf("mnist: BatchInto(%s, %d): destination is %dx%d, want at least %dx%d", l.data.Name, i, r, c, len(idx), l.data.dim))
	}
	for r, k := range idx {
		rowInto(l.data, k, dst.Row(r))
		l.labels[r] = l.data.Labels[k]
	}
	if len(idx) == dst.Rows {
		return dst, l.labels[:len(idx)]
	}
	return dst.SliceRows(0, len(idx)), l.labels[:len(idx)]
}
