package checkpoint_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
)

func Example() {
	dir, _ := os.MkdirTemp("", "pcnet-example")
	defer os.RemoveAll(dir)

	sizes := []int{784, 64, 64, 10}
	layers, _ := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(1, 0)))
	opt := optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9}
	states := make([][2]*optim.State[float64], len(layers))
	for l, d := range layers {
		p := d.Params()
		states[l] = [2]*optim.State[float64]{opt.NewState(len(p[0])), opt.NewState(len(p[1]))}
	}
	path := filepath.Join(dir, "fpa-H2.safetensors")
	err := checkpoint.Save(path, &checkpoint.Checkpoint[float64]{
		Run: spec.Run{
			Sizes: sizes, Activation: layer.Tanh, Loss: "nll", Algorithm: spec.FPA,
			PC:        spec.PCSettings{Steps: 2, Gamma: 1, K: 1},
			Optimizer: opt, Seed: 1, Batch: 64, Epochs: 3,
		},
		Position: train.Position{Epoch: 1, Batch: 0, Samples: 55000}, Step: 860,
		Layers: layers, OptimizerState: checkpoint.CaptureOptimizers(states),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	c, err := checkpoint.Load[float64](path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sizes", c.Run.Sizes, "variant", c.Run.Algorithm, "H", c.Hidden())
	fmt.Printf("resume at epoch %d, batch %d\n", c.Position.Epoch, c.Position.Batch)
	for _, d := range c.Layers {
		fmt.Printf("%d -> %d %v\n", d.In(), d.Out(), d.Act)
	}
	// Output:
	// sizes [784 64 64 10] variant fpa H 2
	// resume at epoch 1, batch 0
	// 784 -> 64 tanh
	// 64 -> 64 tanh
	// 64 -> 10 identity
}
