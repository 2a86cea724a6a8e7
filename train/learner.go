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

// Learner learns from one batch at a time.
type Learner interface {
	// Step learns from one batch and returns the loss at the weights before the step.
	Step(ctx context.Context, x *tensor.Matrix[float64], labels []int) (float64, error)
	// Layers returns the live weights; read them only between steps.
	Layers() []*layer.Dense[float64]
	// Optimizers returns the optimiser state of every layer's weight and bias.
	Optimizers() [][2]*optim.State[float64]
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
func Sync(ctx context.Context, l Learner) error {
	if s, ok := l.(Syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}

// UpdateReporter is a Learner whose last step's weight updates can be read (in PC's sign:
// a negative-gradient estimate).
type UpdateReporter interface {
	Updates() []*layer.Grad[float64]
}

// BP learns by backpropagation.
type BP struct {
	net   *backprop.Net[float64]
	grads []*layer.Grad[float64]
	opt   [][2]*optim.State[float64]
}

// NewBP returns a backprop learner on layers (used, not copied).
func NewBP(layers []*layer.Dense[float64], loss layer.Loss, opt optim.Config) (*BP, error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := backprop.New(layers, loss)
	if err != nil {
		return nil, err
	}
	b := &BP{net: net}
	for _, d := range layers {
		b.grads = append(b.grads, layer.NewGrad(d))
		p := d.Params()
		b.opt = append(b.opt, [2]*optim.State[float64]{opt.NewState(len(p[0])), opt.NewState(len(p[1]))})
	}
	return b, nil
}

// Step runs forward and backward and one optimiser step per tensor.
func (b *BP) Step(_ context.Context, x *tensor.Matrix[float64], labels []int) (float64, error) {
	loss := b.net.Gradients(b.grads, x, labels)
	for l, d := range b.net.Layers {
		p, g := d.Params(), b.grads[l].Params()
		b.opt[l][0].Step(p[0], g[0])
		b.opt[l][1].Step(p[1], g[1])
	}
	return loss, nil
}

// Layers returns the weights.
func (b *BP) Layers() []*layer.Dense[float64] { return b.net.Layers }

// Optimizers returns the optimiser states.
func (b *BP) Optimizers() [][2]*optim.State[float64] { return b.opt }

// Close does nothing: BP starts no goroutines.
func (b *BP) Close() error { return nil }

// PC learns by predictive coding on a pcnet.Network.
type PC struct {
	net *pcnet.Network[float64]
}

// NewPC builds a pcnet.Network on layers (used, not copied) and starts its goroutines
// under ctx. cfg.Optimizer must be set.
func NewPC(ctx context.Context, layers []*layer.Dense[float64], cfg pcnet.Config) (*PC, error) {
	if err := cfg.Optimizer.Validate(); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	net, err := pcnet.New(ctx, layers, cfg)
	if err != nil {
		return nil, err
	}
	return &PC{net: net}, nil
}

// Network returns the underlying network.
func (p *PC) Network() *pcnet.Network[float64] { return p.net }

// Step runs inference and learning on one batch.
func (p *PC) Step(ctx context.Context, x *tensor.Matrix[float64], labels []int) (float64, error) {
	return p.net.Learn(ctx, x, labels)
}

// Layers returns the weights.
func (p *PC) Layers() []*layer.Dense[float64] { return p.net.Layers() }

// Optimizers returns the optimiser states.
func (p *PC) Optimizers() [][2]*optim.State[float64] {
	out := make([][2]*optim.State[float64], len(p.net.Layers()))
	for l := range out {
		out[l] = p.net.Optimizers(l)
	}
	return out
}

// Updates returns the last step's weight updates.
func (p *PC) Updates() []*layer.Grad[float64] { return p.net.Updates() }

// Close stops the network's goroutines.
func (p *PC) Close() error { return p.net.Close() }

// New returns the learner of run on layers (used, not copied): backprop's, or a
// pcnet.Network's started under ctx with obs (nil: none) as its observer. It validates
// run first.
func New(ctx context.Context, run *spec.Run, layers []*layer.Dense[float64], obs pcnet.Observer) (Learner, error) {
	if err := run.Validate(); err != nil {
		return nil, err
	}
	if run.Algorithm == spec.BP {
		return NewBP(layers, run.LossFunc(), run.Optimizer)
	}
	return NewPC(ctx, layers, run.PCConfig(obs))
}
