package optim_test

import (
	"fmt"

	"github.com/pcnet/pcnet/optim"
)

func Example() {
	cfg := optim.Config{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	weights := []float64{0.5, -1.25}
	state := cfg.NewState(len(weights)) // one State per parameter tensor
	for _, grad := range [][]float64{{0.1, -0.2}, {-0.4, 0.05}} {
		state.Step(weights, grad)
		fmt.Printf("step %d: %.4f\n", state.Steps(), weights)
	}
	fmt.Println(len(state.Buffers()["momentum_buffer"]), "momentum values to checkpoint")
	// Output:
	// step 1: [0.4900 -1.2300]
	// step 2: [0.5210 -1.2170]
	// 2 momentum values to checkpoint
}
