package pcnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// A Recorder shows what every node did in the last batch: here, that the error of the
// hidden node at distance d from the output first moves at step d (Theorem 1), and how
// many products each node computed and skipped: 2H + 1 = 7 computed in all, backprop's.
func ExampleRecorder() {
	rng := rand.New(rand.NewPCG(1, 2))
	layers, err := layer.NewMLP[float64]([]int{4, 5, 5, 5, 3}, layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	rec := &pcnet.Recorder{}
	net, err := pcnet.New(context.Background(), layers, pcnet.Config{
		Variant: pcnet.FixedPrediction, Steps: 3, Gamma: 1, MaxBatch: 2, Observer: rec,
	})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	x := tensor.New[float64](2, 4, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8})
	// The batch's own context: cancelling it ends this batch, not the network.
	batch, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := net.Infer(batch, x, []int{0, 2}); err != nil {
		panic(err)
	}
	h := net.Hidden()
	for _, n := range rec.Nodes() {
		fmt.Printf("node %d: %d products computed, %d skipped", n.Node, n.End.VJPs, n.End.SkippedVJPs)
		for _, s := range n.Steps { // hidden nodes only
			if s.ErrorMaxAbs != 0 {
				fmt.Printf("; distance %d, error first non-zero at step %d", h+1-n.Node, s.Step)
				break
			}
		}
		fmt.Println()
	}
	fmt.Printf("%d batch of %d rows, loss %.4f\n", rec.Batches(), rec.Last().Batch, rec.Last().Loss)
	// Output:
	// node 0: 1 products computed, 0 skipped
	// node 1: 2 products computed, 2 skipped; distance 3, error first non-zero at step 3
	// node 2: 2 products computed, 2 skipped; distance 2, error first non-zero at step 2
	// node 3: 2 products computed, 2 skipped; distance 1, error first non-zero at step 1
	// node 4: 0 products computed, 0 skipped
	// 1 batch of 2 rows, loss 1.0223
}
