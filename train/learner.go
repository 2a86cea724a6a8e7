package train

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// Learner learns from one batch at a time, in precision T (the run's, spec.Precision).
type Learner[T tensor.Float] interface {
	// Step learns from one batch and returns the loss at the weights before the step.
	Step(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error)
	// Graph returns the network's layer graph (docs/design.md §11): the chain for a
	// chain of layers.
	Graph() *graph.Graph
	// Maps returns the live maps, one per node 0..H (map l sends node l to its term of
	// node l+1); read them only between steps.
	Maps() []layer.Map[T]
	// Layers returns the same maps as dense layers when every one is (layer.AsDense),
	// and nil otherwise: what the code that runs chains of dense layers only reads.
	Layers() []*layer.Dense[T]
	// Optimizers returns the optimiser state of every map's weight and bias (an empty
	// bias state for a map without one).
	Optimizers() [][2]*optim.State[T]
	// Close releases the learner's resources (goroutines, for PC).
	Close() error
}

// Syncer is a Learner whose weights live elsewhere (in worker processes): Sync brings
// the copy that Layers and Optimizers return up to date. Run calls it before every
// validation; whoever writes a checkpoint calls it first.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Sync syncs l if it is a Syncer.
func Sync[T tensor.Float](ctx context.Context, l Learner[T]) error {
	if s, ok := l.(Syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}

// UpdateReporter is a Learner whose last step's weight updates can be read (in PC's sign:
// a negative-gradient estimate).
type UpdateReporter[T tensor.Float] interface {
	Updates() []*layer.Grad[T]
}

// BP learns by backpropagation: on a backprop.Net for a chain of dense layers, on a
// backprop.GraphNet for any other layer graph.
type BP[T tensor.Float] struct {
	g     *graph.Graph
	maps  []layer.Map[T]
	net   bpNet[T]
	grads []*layer.Grad[T]
	opt   [][2]*optim.State[T]

	ready    chan int       // the layers the backward wave is done with (stepOverlapped)
	handed   int            // the layers sent on ready in this Step
	stepping sync.WaitGroup // stepLayers, while a Step runs
}

// bpNet is what backprop.Net and backprop.GraphNet share.
type bpNet[T tensor.Float] interface {
	Forward(x *tensor.Matrix[T]) *tensor.Matrix[T]
	Gradients(grads []*layer.Grad[T], x *tensor.Matrix[T], labels []int) float64
}

// newBPNet returns backprop on the maps of g: a backprop.Net when g is a plain chain (or
// nil: dense layers that make no graph, a single layer) and every map is dense (the
// chain's own type and speed), a backprop.GraphNet otherwise. Both compute the same
// numbers on a chain of dense layers, bit for bit.
func newBPNet[T tensor.Float](g *graph.Graph, maps []layer.Map[T], loss layer.Loss) (bpNet[T], error) {
	if dense := layer.AsDense(maps); dense != nil && (g == nil || isChain(g)) {
		return backprop.New(dense, loss)
	}
	return backprop.NewGraph(g, maps, loss)
}

// isChain reports whether g is a chain without long skips.
func isChain(g *graph.Graph) bool { return g.Shape() == graph.Chain && len(g.Skips()) == 0 }

// chainOf returns the chain graph on the layers' widths, or nil where they make none (a
// single layer, H = 0, which backprop runs and a graph does not describe; or widths that
// do not fit, which backprop.New reports).
func chainOf[T tensor.Float](layers []*layer.Dense[T]) *graph.Graph {
	if len(layers) == 0 {
		return nil
	}
	widths := []int{layers[0].In()}
	for _, d := range layers {
		widths = append(widths, d.Out())
	}
	g, err := graph.New(widths, graph.Chain, nil)
	if err != nil {
		return nil
	}
	return g
}

// NewBP returns a backprop learner on a chain of dense layers (used, not copied).
func NewBP[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, opt optim.Config) (*BP[T], error) {
	return NewBPGraph(chainOf(layers), layer.AsMaps(layers), loss, opt)
}

// NewBPGraph returns a backprop learner on the maps of the layer graph g (used, not
// copied), with backprop.NewGraph's checks. (NewBP passes a nil g for a single dense
// layer, which only backprop.Net runs; Graph then returns nil.)
func NewBPGraph[T tensor.Float](g *graph.Graph, maps []layer.Map[T], loss layer.Loss, opt optim.Config) (*BP[T], error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := newBPNet(g, maps, loss)
	if err != nil {
		return nil, err
	}
	b := &BP[T]{g: g, maps: maps, net: net}
	for _, m := range maps {
		b.grads = append(b.grads, layer.GradFor(m))
		p := m.Params()
		b.opt = append(b.opt, [2]*optim.State[T]{optim.NewState[T](opt, len(p[0])), optim.NewState[T](opt, len(p[1]))})
	}
	return b, nil
}

// Step runs forward and backward and one optimiser step per tensor.
// On a chain (backprop.Net) each layer's step runs as soon as the backward wave has
// finished with the layer, while its gradient is still in cache, and with more than one
// core, beside the rest of the wave (stepOverlapped); the bits are those of stepping
// after the wave.
func (b *BP[T]) Step(_ context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	if net, ok := b.net.(*backprop.Net[T]); ok {
		if runtime.GOMAXPROCS(0) < 2 {
			return net.GradientsEach(b.grads, x, labels, b.stepLayer), nil
		}
		return b.stepOverlapped(net, x, labels), nil
	}
	loss := b.net.Gradients(b.grads, x, labels)
	for l := range b.maps {
		b.stepLayer(l)
	}
	return loss, nil
}

// stepOverlapped is Step on a chain with the optimiser steps on a goroutine of their own
// (stepLayers), which the backward wave hands each layer as soon as it is done with it.
// The steps stream memory while the products below use the cores' FMAs; each step
// computes what it would after the wave, so the bits are the same (issue 18: a fifth of
// a float32 step on two cores at width 1024 went to steps that two cores barely speed up).
func (b *BP[T]) stepOverlapped(net *backprop.Net[T], x *tensor.Matrix[T], labels []int) float64 {
	if b.ready == nil {
		b.ready = make(chan int, len(b.maps))
	}
	b.handed = 0
	b.stepping.Add(1)
	go b.stepLayers()
	// Deferred, so that a panic in the wave (a shape the net refuses) still ends
	// stepLayers: the layers not handed over are passed as -1, which it skips.
	defer func() {
		for ; b.handed < len(b.maps); b.handed++ {
			b.ready <- -1
		}
		b.stepping.Wait()
	}()
	return net.GradientsEach(b.grads, x, labels, b.handOver)
}

// handOver passes layer l, which the backward wave is done with, to stepLayers.
func (b *BP[T]) handOver(l int) {
	b.ready <- l
	b.handed++
	if len(b.maps[l].Params()[0]) >= yieldMin {
		// The send left stepLayers in this core's run-next slot, and the other core is
		// held by the helper that lingers there for the next product (internal/gemm): no
		// core would take the step until this one yields, at the end of its next
		// product's tiles. Yielding runs the step here now and puts the wave on the run
		// queue, which the lingering helper takes it from.
		runtime.Gosched()
	}
}

// yieldMin is the least parameter count of a layer whose optimiser step handOver yields
// for: a step of a 1024x1024 layer streams 20 MB in float32 and runs for hundreds of
// microseconds, long enough to pay for the switch; a 256x256 layer's does not.
const yieldMin = 1 << 18

// stepLayers runs the optimiser steps of the layers handed over, one per map, while the
// backward wave goes on with the layers below: the steps stream memory while the products
// use the cores' FMAs.
func (b *BP[T]) stepLayers() {
	defer b.stepping.Done()
	for range b.maps {
		if l := <-b.ready; l >= 0 {
			b.stepLayer(l)
		}
	}
}

// stepLayer applies the optimiser step of map l from its gradient.
func (b *BP[T]) stepLayer(l int) {
	p, g := b.maps[l].Params(), b.grads[l].Params()
	b.opt[l][0].Step(p[0], g[0])
	b.opt[l][1].Step(p[1], g[1])
}

// Graph returns the network's layer graph.
func (b *BP[T]) Graph() *graph.Graph { return b.g }

// Maps returns the maps.
func (b *BP[T]) Maps() []layer.Map[T] { return b.maps }

// Layers returns the maps as dense layers, or nil.
func (b *BP[T]) Layers() []*layer.Dense[T] { return layer.AsDense(b.maps) }

// Optimizers returns the optimiser states.
func (b *BP[T]) Optimizers() [][2]*optim.State[T] { return b.opt }

// Close does nothing: the goroutine a Step starts for its optimiser steps ends within it.
func (b *BP[T]) Close() error { return nil }

// PC learns by predictive coding on a pcnet.Network.
type PC[T tensor.Float] struct {
	net *pcnet.Network[T]
}

// NewPC builds a pcnet.Network on a chain of dense layers (used, not copied) and starts
// its goroutines under ctx. cfg.Optimizer must be set.
func NewPC[T tensor.Float](ctx context.Context, layers []*layer.Dense[T], cfg pcnet.Config) (*PC[T], error) {
	if err := cfg.Optimizer.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := pcnet.New(ctx, layers, cfg)
	if err != nil {
		return nil, err
	}
	return &PC[T]{net: net}, nil
}

// NewPCGraph builds a pcnet.Network on the maps of the layer graph g (used, not copied;
// pcnet.NewGraph) and starts its goroutines under ctx. cfg.Optimizer must be set. On
// the chain of dense layers it is the network pcnet.New builds.
func NewPCGraph[T tensor.Float](ctx context.Context, g *graph.Graph, maps []layer.Map[T], cfg pcnet.Config) (*PC[T], error) {
	if err := cfg.Optimizer.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := pcnet.NewGraph(ctx, g, maps, cfg)
	if err != nil {
		return nil, err
	}
	return &PC[T]{net: net}, nil
}

// Network returns the underlying network.
func (p *PC[T]) Network() *pcnet.Network[T] { return p.net }

// Step runs inference and learning on one batch.
func (p *PC[T]) Step(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	return p.net.Learn(ctx, x, labels)
}

// Graph returns the network's layer graph.
func (p *PC[T]) Graph() *graph.Graph { return p.net.Graph() }

// Maps returns the maps.
func (p *PC[T]) Maps() []layer.Map[T] { return p.net.Maps() }

// Layers returns the maps as dense layers, or nil.
func (p *PC[T]) Layers() []*layer.Dense[T] { return p.net.Layers() }

// Optimizers returns the optimiser states.
func (p *PC[T]) Optimizers() [][2]*optim.State[T] {
	out := make([][2]*optim.State[T], len(p.net.Maps()))
	for l := range out {
		out[l] = p.net.Optimizers(l)
	}
	return out
}

// Updates returns the last step's weight updates.
func (p *PC[T]) Updates() []*layer.Grad[T] { return p.net.Updates() }

// Close stops the network's goroutines.
func (p *PC[T]) Close() error { return p.net.Close() }

// New returns the learner of run on maps (used, not copied; spec.InitialMapsOf makes
// them, layer.AsMaps turns dense layers into them) on the run's layer graph
// (spec.Run.Graph): backprop's, or a pcnet.Network's started under ctx with obs (nil:
// none) as its observer. It validates run first, and that T is run's precision; the
// maps must fit the graph as backprop.NewGraph and pcnet.NewGraph check.
func New[T tensor.Float](ctx context.Context, run *spec.Run, maps []layer.Map[T], obs pcnet.Observer) (Learner[T], error) {
	if err := run.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPrecision[T](run); err != nil {
		return nil, err
	}
	g, err := run.Graph()
	if err != nil {
		return nil, err
	}
	if run.Algorithm == spec.BP {
		return NewBPGraph(g, maps, run.LossFunc(), run.Optimizer)
	}
	return NewPCGraph(ctx, g, maps, run.PCConfig(obs))
}

// CheckPrecision reports whether T is run's precision: a run that says f32 must not
// compute in float64 unawares, nor the reverse.
func CheckPrecision[T tensor.Float](run *spec.Run) error {
	if p := spec.PrecisionOf[T](); p != run.Precision {
		return fmt.Errorf("the run's precision is %s (%s), but its weights are %s", run.Precision, run.Precision.Type(), p.Type())
	}
	return nil
}
