package pcnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// A network on a layer graph: a chain of H = 4 dense layers with the long skip 1 -> 4,
// which adds x_1 to mu_4. Under FPA-PC the error of node v first moves at EtaFixed(v), the
// shortest directed path to the output (node 1 at step 2 through the skip, not 4), takes a
// new value at each path length, and with gamma 1 and T = H the updates are backprop's on
// the same graph, bit for bit.
func ExampleNewGraph() {
	widths := []int{4, 5, 5, 5, 5, 3}
	g, err := graph.New(widths, graph.Chain, []graph.Skip{{From: 1, To: 4}})
	if err != nil {
		panic(err)
	}
	newMaps := func() []layer.Map[float64] {
		layers, err := layer.NewMLP[float64](widths, layer.Tanh, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			panic(err)
		}
		maps := make([]layer.Map[float64], len(layers))
		for l, d := range layers {
			maps[l] = d
		}
		return maps
	}
	rec := &pcnet.Recorder{}
	net, err := pcnet.NewGraph(context.Background(), g, newMaps(), pcnet.Config{
		Variant: pcnet.FixedPrediction, Steps: g.H(), Gamma: 1, MaxBatch: 2, Observer: rec,
	})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	x := tensor.New[float64](2, 4, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8})
	labels := []int{0, 2}
	batch, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := net.Infer(batch, x, labels); err != nil {
		panic(err)
	}
	for _, n := range rec.Nodes()[1 : g.H()+1] {
		first := -1
		for _, s := range n.Steps {
			if s.ErrorMaxAbs != 0 {
				first = s.Step
				break
			}
		}
		fmt.Printf("node %d: EtaFixed %d, path lengths %v, error first non-zero at step %d, %d products computed\n",
			n.Node, g.EtaFixed(n.Node), g.PathLengths(n.Node), first, n.End.VJPs)
	}
	bp, err := backprop.NewGraph(g, newMaps(), layer.NLL{})
	if err != nil {
		panic(err)
	}
	grads := bp.NewGrads()
	bp.Gradients(grads, x, labels)
	same := true
	for l, u := range net.Updates() {
		for i, p := range u.Params() {
			for j, v := range p {
				same = same && v == -grads[l].Params()[i][j]
			}
		}
	}
	fmt.Println("updates are backprop's negated gradients:", same)
	// Output:
	// node 1: EtaFixed 2, path lengths [2 4], error first non-zero at step 2, 2 products computed
	// node 2: EtaFixed 3, path lengths [3], error first non-zero at step 3, 2 products computed
	// node 3: EtaFixed 2, path lengths [2], error first non-zero at step 2, 2 products computed
	// node 4: EtaFixed 1, path lengths [1], error first non-zero at step 1, 2 products computed
	// updates are backprop's negated gradients: true
}
