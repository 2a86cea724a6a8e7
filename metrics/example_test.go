package metrics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
	"github.com/prometheus/client_golang/prometheus"
)

// An FPA-PC network with H = 3 and T = 4 under observation: every hidden node's error
// arrives at the step equal to its distance from the output (Theorem 1), and with
// gamma = 1 it keeps that value, so it converges there too.
func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{MaxStep: 8})
	if err != nil {
		panic(err)
	}
	srv, err := metrics.Serve(ctx, "127.0.0.1:0", reg) // metrics.DefaultAddr in a real run
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	rng := rand.New(rand.NewPCG(1, 0))
	layers, err := layer.NewMLP[float64]([]int{8, 6, 6, 6, 3}, layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	net, err := pcnet.New(ctx, layers, pcnet.Config{
		Variant: pcnet.FixedPrediction, Steps: 4, Gamma: 1, Observer: m,
		Optimizer: optim.Config{Kind: optim.SGD, LR: 0.01},
	})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	x := tensor.New[float64](4, 8, nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	for range 10 {
		// A batch takes microseconds; its own deadline turns a stuck one into an error.
		batch, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := net.Learn(batch, x, []int{0, 1, 2, 0})
		cancel()
		if err != nil {
			panic(err)
		}
		if err := m.AddSamples(4); err != nil {
			panic(err)
		}
	}
	m.SetEpoch(1)
	fmt.Print(m.Summary())
	// Output:
	// variant  distance  inferences  first nonzero  converged at  unconverged  unreached
	// fpa      1         10          1.00           1.00          0            0
	// fpa      2         10          2.00           2.00          0            0
	// fpa      3         10          3.00           3.00          0            0
}
