package mnist

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// indexedSet has n examples whose label is their index and whose features are
// (index, -index), so a batch row shows which example it came from.
func indexedSet(n int) *Dataset {
	x := tensor.New[float64](n, 2, nil)
	labels := make([]int, n)
	for i := range n {
		x.Set(i, 0, float64(i))
		x.Set(i, 1, -float64(i))
		labels[i] = i
	}
	return &Dataset{Name: "indexed", Labels: labels, Classes: n, x: x, dim: 2}
}

// epochOrder runs one epoch and returns the example indices in the order served,
// checking that every row matches its label.
func epochOrder(t *testing.T, l *Loader, epoch int) []int {
	t.Helper()
	l.SetEpoch(epoch)
	var order []int
	for i := range l.NumBatches() {
		x, labels := l.Batch(i)
		r, c := x.Dims()
		require.Equal(t, len(labels), r)
		require.Equal(t, 2, c)
		for k, label := range labels {
			require.Equal(t, []float64{float64(label), -float64(label)}, x.Row(k))
		}
		order = append(order, labels...)
	}
	return order
}

func TestLoaderBatches(t *testing.T) {
	tests := []struct {
		name       string
		n, batch   int
		numBatches int
		lastSize   int
	}{
		{"partial last batch", 103, 10, 11, 3},
		{"exact multiple", 100, 10, 10, 10},
		{"batch of one", 5, 1, 5, 1},
		{"batch larger than the set", 7, 64, 1, 7},
		{"batch equal to the set", 7, 7, 1, 7},
	}
	for _, tt := range tests {
		for _, shuffle := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shuffle=%t", tt.name, shuffle), func(t *testing.T) {
				l, err := NewLoader(indexedSet(tt.n), tt.batch, shuffle, 1)
				require.NoError(t, err)
				require.Equal(t, tt.numBatches, l.NumBatches())
				require.Equal(t, tt.batch, l.BatchSize())
				for i := range l.NumBatches() - 1 {
					_, labels := l.Batch(i)
					require.Len(t, labels, tt.batch)
				}
				x, labels := l.Batch(l.NumBatches() - 1)
				require.Len(t, labels, tt.lastSize)
				r, _ := x.Dims()
				require.Equal(t, tt.lastSize, r)

				for epoch := range 3 {
					order := epochOrder(t, l, epoch)
					require.Len(t, order, tt.n)
					sorted := slices.Sorted(slices.Values(order))
					require.Equal(t, indexedSet(tt.n).Labels, sorted, "epoch %d must serve every example once", epoch)
					if !shuffle {
						require.Equal(t, indexedSet(tt.n).Labels, order, "unshuffled keeps the stored order")
					}
				}
			})
		}
	}
}

func TestLoaderOrder(t *testing.T) {
	const n = 257
	newLoader := func(seed uint64) *Loader {
		l, err := NewLoader(indexedSet(n), 16, true, seed)
		require.NoError(t, err)
		return l
	}
	a, b := newLoader(7), newLoader(7)
	require.Equal(t, 0, a.Epoch())
	e0, e1 := epochOrder(t, a, 0), epochOrder(t, a, 1)
	require.NotEqual(t, e0, e1, "each epoch has its own order")
	require.NotEqual(t, indexedSet(n).Labels, e0, "shuffled")
	require.Equal(t, e1, epochOrder(t, b, 1), "same seed and epoch, same order")
	require.Equal(t, e0, epochOrder(t, a, 0), "an epoch's order does not depend on what ran before")
	require.NotEqual(t, e0, epochOrder(t, newLoader(8), 0), "the seed matters")

	// A run resumed at (epoch 1, batch 9) sees what the uninterrupted run saw.
	resumed := newLoader(7)
	resumed.SetEpoch(1)
	for i := 9; i < resumed.NumBatches(); i++ {
		_, labels := resumed.Batch(i)
		require.Equal(t, e1[i*16:min((i+1)*16, n)], labels, "batch %d", i)
	}
	require.Equal(t, 1, resumed.Epoch())
}

// TestLoaderOrderPinned pins the shuffle itself: if it ever changes, checkpoints
// taken mid-epoch no longer resume onto the same batches.
func TestLoaderOrderPinned(t *testing.T) {
	l, err := NewLoader(indexedSet(10), 10, true, 1)
	require.NoError(t, err)
	require.Equal(t, []int{7, 6, 1, 3, 2, 4, 8, 9, 0, 5}, epochOrder(t, l, 0))
	require.Equal(t, []int{2, 5, 8, 3, 4, 1, 7, 6, 0, 9}, epochOrder(t, l, 1))
}

func TestShuffleIsUniform(t *testing.T) {
	// Each of the 6 orders of 3 items should come up about 1/6 of the time.
	var src rand.PCG
	counts := map[[3]int]int{}
	const trials = 60000
	for e := range trials {
		s := []int{0, 1, 2}
		src.Seed(3, uint64(e))
		shuffleInts(&src, s)
		counts[[3]int(s)]++
	}
	require.Len(t, counts, 6)
	for order, c := range counts {
		require.InDelta(t, trials/6, c, 500, "order %v", order)
	}
}

func TestNewLoaderErrors(t *testing.T) {
	d := indexedSet(5)
	tests := []struct {
		name    string
		d       *Dataset
		batch   int
		wantMsg string
	}{
		{"zero batch", d, 0, "mnist: NewLoader(indexed): batch size 0, want at least 1"},
		{"negative batch", d, -3, "mnist: NewLoader(indexed): batch size -3, want at least 1"},
		{"nil dataset", nil, 4, "mnist: NewLoader: nil or empty dataset"},
		{"empty dataset", &Dataset{Name: "empty"}, 4, "mnist: NewLoader: nil or empty dataset"},
		{"labels and rows differ", &Dataset{Name: "odd", Labels: d.Labels[:4], x: d.x, dim: 2}, 2,
			"mnist: NewLoader(odd): 5 examples stored but 4 labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLoader(tt.d, tt.batch, true, 1)
			require.Nil(t, l)
			require.EqualError(t, err, tt.wantMsg)
		})
	}

	l, err := NewLoader(d, 2, false, 1)
	require.NoError(t, err)
	require.PanicsWithValue(t, "mnist: Loader(indexed).Batch(3): want 0 <= i < 3", func() { l.Batch(3) })
	require.PanicsWithValue(t, "mnist: Loader(indexed).Batch(-1): want 0 <= i < 3", func() { l.Batch(-1) })
}

func BenchmarkLoaderBatch(b *testing.B) {
	d := Synthetic(10000, Pixels, Classes, 1)
	l, err := NewLoader(d, 64, true, 1)
	require.NoError(b, err)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == l.NumBatches() {
			l.SetEpoch(l.Epoch() + 1)
			i = 0
		}
		l.Batch(i)
		i++
	}
}

// BatchInto serves the batches Batch serves, converted into T as RowsInto converts: the
// same values in float64, each pixel p as float32(p)/255 in float32, from bytes or
// float64 features, the short last batch included.
func TestBatchIntoIsBatchInT(t *testing.T) {
	pixels := make([]uint8, 7*3)
	for i := range pixels {
		pixels[i] = uint8(37 * i)
	}
	bytesSet, err := NewImages("bytes", pixels, 3, []int{0, 1, 2, 0, 1, 2, 0}, 3)
	require.NoError(t, err)
	for _, d := range []*Dataset{bytesSet, indexedSet(7)} {
		t.Run(d.Name, func(t *testing.T) {
			l, err := NewLoader(d, 3, true, 5)
			require.NoError(t, err)
			l.SetEpoch(1)
			dst32 := tensor.New[float32](3, d.Dim(), nil)
			dst64 := tensor.New[float64](3, d.Dim(), nil)
			for i := range l.NumBatches() {
				x, labels := l.Batch(i)
				want, wantLabels := x.Clone(), slices.Clone(labels)
				x64, labels64 := BatchInto(l, i, dst64)
				require.True(t, tensor.Equal(want, x64), "batch %d", i)
				require.Equal(t, wantLabels, labels64)
				x32, labels32 := BatchInto(l, i, dst32)
				require.Equal(t, wantLabels, labels32)
				rows, _ := x32.Dims()
				require.Equal(t, len(wantLabels), rows)
				for r := range rows {
					for c, v := range x32.Row(r) {
						w := want.At(r, c)
						if d == bytesSet {
							require.Equal(t, float32(uint8(w*255+0.5))/255, v, "batch %d (%d, %d)", i, r, c)
						} else {
							require.Equal(t, float32(w), v)
						}
					}
				}
			}
		})
	}
}
