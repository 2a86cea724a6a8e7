package train

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProgressPlainLines checks the output off a terminal: a line every tenth of an
// epoch with the mean loss since the last line, none at the epoch's end (the epoch's own
// line follows).
func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, 2)
	for i := 1; i <= 20; i++ {
		p.Batch(BatchInfo{Next: Position{Epoch: 1, Batch: i}, Batches: 20, Loss: float64(i)})
	}
	p.Clear()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 9)
	require.Equal(t, "epoch 2/2  batch 2/20  loss 1.5000", lines[0])
	require.Equal(t, "epoch 2/2  batch 18/20  loss 17.5000", lines[8])
}
