package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/pcnet/pcnet/safetensors"
)

func Example() {
	ckpt := &safetensors.File{
		Metadata: map[string]string{"epoch": "3"},
		Tensors: []safetensors.Tensor{
			{Name: "layer0.weight", Shape: []int{2, 2}, Data: []float64{0.5, -1, 2, 0.25}},
			{Name: "layer0.bias", Shape: []int{2}, Data: []float64{0, 1}},
		},
	}
	// WriteFileAtomic and ReadFile do the same with a file on disk.
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, ckpt); err != nil {
		panic(err)
	}
	loaded, err := safetensors.Decode(&buf, 1<<30)
	if err != nil {
		panic(err)
	}
	fmt.Println("epoch", loaded.Metadata["epoch"])
	for _, t := range loaded.Tensors {
		fmt.Println(t.Name, t.Shape, t.Data)
	}
	w, _ := loaded.Get("layer0.weight")
	fmt.Println(w.Data[1])
	// Output:
	// epoch 3
	// layer0.bias [2] [0 1]
	// layer0.weight [2 2] [0.5 -1 2 0.25]
	// -1
}
