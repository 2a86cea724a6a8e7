package train

import (
	"context"
	"fmt"

	"github.com/pcnet/pcnet/backprop"
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
	// Layers returns the live weights; read them only between steps.
	Layers() []*layer.Dense[T]
	// Optimizers returns the optimiser state of every layer's weight and bias.
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

// BP learns by backpropagation.
type BP[T tensor.Float] struct {
	net   *backprop.Net[T]
	grads []*layer.Grad[T]
	opt   [][2]*optim.State[T]
}

// NewBP returns a backprop learner on layers (used, not copied).
func NewBP[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, opt optim.Config) (*BP[T], error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := backprop.New(layers, loss)
	if err != nil {
		return nil, err
	}
	b := &BP[T]{net: net}
	for _, d := range layers {
		b.grads = append(b.grads, layer.NewGrad(d))
		p := d.Params()
		b.opt = append(b.opt, [2]*optim.State[T]{optim.NewState[T](opt, len(p[0])), optim.NewState[T](opt, len(p[1]))})
	}
	return b, nil
}

// Step runs forward and backward and one optimiser step per tensor.
func (b *BP[T]) Step(_ context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	loss := b.net.Gradients(b.grads, x, labels)
	for l, d := range b.net.Layers {
		p, g := d.Params(), b.grads[l].Params()
		b.opt[l][0].Step(p[0], g[0])
		b.opt[l][1].Step(p[1], g[1])
	}
	return loss, nil
}

// Layers returns the weights.
func (b *BP[T]) Layers() []*layer.Dense[T] { return b.net.Layers }

// Optimizers returns the optimiser states.
func (b *BP[T]) Optimizers() [][2]*optim.State[T] { return b.opt }

// Close does nothing: BP starts no goroutines.
func (b *BP[T]) Close() error { return nil }

// PC learns by predictive coding on a pcnet.Network.
type PC[T tensor.Float] struct {
	net *pcnet.Network[T]
}

// NewPC builds a pcnet.Network on layers (used, not copied) and starts its goroutines
// under ctx. cfg.Optimizer must be set.
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

// Network returns the underlying network.
func (p *PC[T]) Network() *pcnet.Network[T] { return p.net }

// Step runs inference and learning on one batch.
func (p *PC[T]) Step(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	return p.net.Learn(ctx, x, labels)
}

// Layers returns the weights.
func (p *PC[T]) Layers() []*layer.Dense[T] { return p.net.Layers() }

// Optimizers returns the optimiser states.
func (p *PC[T]) Optimizers() [][2]*optim.State[T] {
	out := make([][2]*optim.State[T], len(p.net.Layers()))
	for l := range out {
		out[l] = p.net.Optimizers(l)
	}
	return out
}

// Updates returns the last step's weight updates.
func (p *PC[T]) Updates() []*layer.Grad[T] { return p.net.Updates() }

// Close stops the network's goroutines.
func (p *PC[T]) Close() error { return p.net.Close() }

// New returns the learner of run on layers (used, not copied): backprop's, or a
// pcnet.Network's started under ctx with obs (nil: none) as its observer. It validates
// run first, and that T is run's precision.
func New[T tensor.Float](ctx context.Context, run *spec.Run, layers []*layer.Dense[T], obs pcnet.Observer) (Learner[T], error) {
	if err := run.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPrecision[T](run); err != nil {
		return nil, err
	}
	if run.Algorithm == spec.BP {
		return NewBP(layers, run.LossFunc(), run.Optimizer)
	}
	return NewPC(ctx, layers, run.PCConfig(obs))
}

// CheckPrecision reports whether T is run's precision: a run that says f32 must not
// compute in float64 unawares, nor the reverse.
func CheckPrecision[T tensor.Float](run *spec.Run) error {
	if p := spec.PrecisionOf[T](); p != run.Precision {
		return fmt.Errorf("the run's precision is %s (%s), but its weights are %s", run.Precision, run.Precision.Type(), p.Type())
	}
	return nil
}
