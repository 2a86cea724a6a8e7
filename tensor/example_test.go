package tensor_test

import (
	"fmt"

	"github.com/pcnet/pcnet/tensor"
)

// A batch of two rows in float64, a view of its second row, and the same values rounded
// to float32.
func Example() {
	x := tensor.New(2, 3, []float64{0.1, 0.2, 0.3, 1, 2, 3})
	second := x.SliceRows(1, 2)
	second.Set(0, 0, -1)
	y := tensor.New[float32](2, 3, nil)
	tensor.Convert(y, x)
	fmt.Println(x.Row(1), y.Row(0))
	// Output: [-1 2 3] [0.1 0.2 0.3]
}
