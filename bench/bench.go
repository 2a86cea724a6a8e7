package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// Precision is the element type a benchmark computes in; its String is the value of the
// benchmarks' precision= level (issue 18: benchstat compares like with like).
type Precision int

// The precisions. The zero value is float64, the precision of every benchmark before the
// level existed.
const (
	F64 Precision = iota
	F32
)

// Precisions are both, in the order the benchmarks run them.
var Precisions = []Precision{F32, F64}

func (p Precision) String() string {
	if p == F32 {
		return "f32"
	}
	return "f64"
}

// Setting is one point of the benchmark grid.
type Setting struct {
	Precision Precision
	Algorithm spec.Algorithm // spec.BP or a PC variant; zero: spec.BP
	Engine    pcnet.Engine
	Schedule  pcnet.Schedule // 0: pcnet's default, the event schedule
	Hidden    int
	Width     int
	Batch     int
}

// Sizes returns the node widths 784-[Width]xHidden-10.
func (s Setting) Sizes() []int {
	sizes := []int{784}
	for range s.Hidden {
		sizes = append(sizes, s.Width)
	}
	return append(sizes, 10)
}

// Name is the benchstat-friendly sub-benchmark name, its precision the first level.
func (s Setting) Name() string {
	if !s.Algorithm.IsPC() {
		return fmt.Sprintf("precision=%s/H=%d/width=%d/batch=%d", s.Precision, s.Hidden, s.Width, s.Batch)
	}
	return fmt.Sprintf("precision=%s/variant=%s/engine=%s/schedule=%s/H=%d/width=%d/batch=%d", s.Precision, s.Algorithm, s.Engine, s.schedule(), s.Hidden, s.Width, s.Batch)
}

func (s Setting) schedule() pcnet.Schedule {
	if s.Schedule == 0 {
		return pcnet.Event
	}
	return s.Schedule
}

// SGD is the optimiser of every benchmark: the paper's.
var SGD = optim.Config{Kind: optim.SGD, LR: 0.001, Momentum: 0.9}

// PCConfig is the configuration a PC benchmark runs: T = H; gamma 1 for FPA-PC and Z-IL,
// 0.1 for standard PC.
func (s Setting) PCConfig() pcnet.Config {
	gamma := 1.0
	if s.Algorithm == spec.PC || s.Algorithm == spec.Scaled {
		gamma = 0.1
	}
	v, _ := s.Algorithm.Variant()
	return pcnet.Config{Variant: v, Steps: s.Hidden, Gamma: gamma, K: 10, Engine: s.Engine, Schedule: s.schedule(), MaxBatch: s.Batch, Optimizer: SGD}
}

// Problem returns seeded float64 layers and one batch of inputs in [0, 1] with labels.
func (s Setting) Problem(seed uint64) ([]*layer.Dense[float64], *tensor.Matrix[float64], []int) {
	return Problem[float64](s, seed)
}

// Problem is Setting.Problem in precision T: the same draws, rounded to T (s.Precision
// is the caller's to match with T).
func Problem[T tensor.Float](s Setting, seed uint64) ([]*layer.Dense[T], *tensor.Matrix[T], []int) {
	rng := rand.New(rand.NewPCG(seed, 0))
	layers, err := layer.NewMLP[T](s.Sizes(), layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	x := tensor.New[T](s.Batch, 784, nil)
	for i := range x.Data {
		x.Data[i] = T(rng.Float64())
	}
	labels := make([]int, s.Batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	return layers, x, labels
}

// Counter is a pcnet.Observer that totals what the nodes report.
type Counter struct {
	VJPs, SkippedVJPs        atomic.Int64
	Messages, Steps, Batches atomic.Int64
	Wait, Compute            atomic.Int64 // nanoseconds
	perNode                  []*NodeCounter
}

// NodeCounter totals one node.
type NodeCounter struct {
	c       *Counter
	Node    int
	Compute time.Duration
	Wait    time.Duration
	Batches int
}

// Node implements pcnet.Observer.
func (c *Counter) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	n := &NodeCounter{c: c, Node: info.Node}
	c.perNode = append(c.perNode, n)
	return n
}

// Batch implements pcnet.Observer.
func (c *Counter) Batch(s pcnet.BatchStats) {
	c.Steps.Add(int64(s.Steps))
	c.Batches.Add(1)
}

// Nodes returns the per-node totals, by node index.
func (c *Counter) Nodes() []*NodeCounter { return c.perNode }

// Step implements pcnet.NodeObserver.
func (n *NodeCounter) Step(pcnet.StepStats) {}

// End implements pcnet.NodeObserver.
func (n *NodeCounter) End(s pcnet.NodeStats) {
	n.Compute += s.Compute
	n.Wait += s.Wait
	n.Batches++
	n.c.VJPs.Add(int64(s.VJPs))
	n.c.SkippedVJPs.Add(int64(s.SkippedVJPs))
	n.c.Messages.Add(int64(s.Up.Total() + s.Down.Total()))
	n.c.Wait.Add(int64(s.Wait))
	n.c.Compute.Add(int64(s.Compute))
}

// Observe runs n observed PC updates of s, in s.Precision, and returns the counter.
func Observe(s Setting, n int) (*Counter, error) {
	if s.Precision == F32 {
		return observe[float32](s, n)
	}
	return observe[float64](s, n)
}

func observe[T tensor.Float](s Setting, n int) (*Counter, error) {
	layers, x, labels := Problem[T](s, 1)
	cfg := s.PCConfig()
	c := &Counter{}
	cfg.Observer = c
	net, err := pcnet.New(context.Background(), layers, cfg)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	for range n {
		if _, err := net.Learn(context.Background(), x, labels); err != nil {
			return nil, err
		}
	}
	return c, nil
}
