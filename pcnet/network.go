package pcnet

import (
	"context"
	"errors"
	"fmt"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// ErrClosed is wrapped by the error of every batch of a network or part that was closed,
// whose constructor's context was cancelled, or that stopped because one of its nodes
// failed (a panic, a broken link), and of a part that stopped because its batch was
// cancelled. A network's cancelled batch does not stop it (see Network.Infer).
var ErrClosed = errors.New("pcnet: network is closed")

// ErrNonFinite is wrapped by the error of a batch that met a NaN or an infinity: in the
// batch, the weights, or the loss at the feed-forward values. A network refuses them
// rather than compute with them, because 0·Inf is NaN: a product the event schedule
// skips as zero would differ from the computed one, and the schedules must not give
// different numbers. Both schedules return the same error. Divergent inference (a state
// that overflows from finite weights) is not refused: there the schedules compute the
// same products, and the NaN reaches the update and then the weights.
var ErrNonFinite = errors.New("pcnet: not finite")

func isFinite(v float64) bool { return v-v == 0 }

// checkFinite reports the first non-finite parameter of layer l.
func checkFinite[T tensor.Float](l int, d layer.Map[T]) error {
	for i, p := range d.Params() {
		if j := layer.FirstNonFinite(p); j >= 0 {
			if i == 0 {
				in := d.In()
				return fmt.Errorf("%w: layer %d: W[%d,%d] = %v", ErrNonFinite, l, j/in, j%in, p[j])
			}
			return fmt.Errorf("%w: layer %d: b[%d] = %v", ErrNonFinite, l, j, p[j])
		}
	}
	return nil
}

// Network is a predictive-coding network of H hidden nodes between an input node and an
// output node: the host of every node 0..H+1, over in-process links. It is built once,
// fed batch after batch and closed once. Its methods must not be called concurrently.
type Network[T tensor.Float] struct {
	*host[T]
}

// New builds a network on layers (layer l maps node l to node l+1; at least two layers,
// so H >= 1) and, for the parallel engine, starts one goroutine per node under ctx: ctx
// bounds the network's life, as Close does, and cancelling it stops the network. Each
// batch has a context of its own (see Infer). It is NewGraph on the chain of the layers.
// The network uses the layers themselves: read them only between batches, and let Learn
// be the only writer.
func New[T tensor.Float](ctx context.Context, layers []*layer.Dense[T], cfg Config) (*Network[T], error) {
	h := len(layers) - 1
	if h < 1 {
		return nil, fmt.Errorf("pcnet: hidden layers H = %d: a PC network needs H >= 1 (at least two weight layers)", h)
	}
	for l := 1; l < len(layers); l++ {
		if layers[l].In() != layers[l-1].Out() {
			return nil, fmt.Errorf("pcnet: widths: layer %d has %d inputs but layer %d has %d outputs", l, layers[l].In(), l-1, layers[l-1].Out())
		}
	}
	maps := layer.AsMaps(layers)
	g, err := graph.New(widthsOf(layers), graph.Chain, nil)
	if err != nil {
		return nil, fmt.Errorf("pcnet: %w", err)
	}
	return NewGraph(ctx, g, maps, cfg)
}

// NewGraph builds a network on the layer graph g (docs/design.md §11) with one map per
// node 0..H (map l sends node l to its term of mu_{l+1}; a long skip i -> j of g adds
// x_i to mu_j) and, for the parallel engine, starts one goroutine per node under ctx, as
// New does. Every edge of g is a link of its own: a node exchanges predictions and
// errors with each of its parents and children. The maps' widths must be g's, and their
// identity skips must agree with g's shape (a residual graph's maps 1..H-1 are
// layer.PreAct maps with Skip set), as backprop.NewGraph checks. Every variant runs on
// every graph but Z-IL, which refuses long skips (docs/design.md §11: with them no step
// of its dynamics gives some layers backprop's update).
func NewGraph[T tensor.Float](ctx context.Context, g *graph.Graph, maps []layer.Map[T], cfg Config) (*Network[T], error) {
	if err := checkMaps(g, maps); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	spec := hostSpec[T]{cfg: cfg, g: g, lo: 0, hi: g.H() + 1, maps: maps}
	if cfg.Observer != nil {
		spec.observe = cfg.Observer.Node
	}
	ho, err := newHost(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &Network[T]{ho}, nil
}

// checkMaps checks the maps of a graph network, with the rules of backprop.NewGraph.
func checkMaps[T tensor.Float](g *graph.Graph, maps []layer.Map[T]) error {
	if g == nil {
		return errors.New("pcnet: a graph network needs a graph")
	}
	if h := g.H(); len(maps) != h+1 {
		return fmt.Errorf("pcnet: %d maps for %v, want %d (one per node 0..H)", len(maps), g, h+1)
	}
	if err := checkMapRange(g, 0, maps); err != nil {
		return fmt.Errorf("pcnet: %w", err)
	}
	return nil
}

// checkMapRange checks maps[i], the map of node lo+i, against g: its widths and whether
// it has the identity skip of g's shape. A Part checks its range's maps with it.
func checkMapRange[T tensor.Float](g *graph.Graph, lo int, maps []layer.Map[T]) error {
	h, widths := g.H(), g.Widths()
	for i, m := range maps {
		l := lo + i
		if m == nil {
			return fmt.Errorf("map %d is nil", l)
		}
		if m.In() != widths[l] || m.Out() != widths[l+1] {
			return fmt.Errorf("map %d is %d -> %d, but nodes %d and %d have widths %d and %d",
				l, m.In(), m.Out(), l, l+1, widths[l], widths[l+1])
		}
		p, ok := m.(*layer.PreAct[T])
		got, want := ok && p.Skip, g.Shape() == graph.Residual && l > 0 && l < h
		if got != want {
			return fmt.Errorf("map %d has identity skip %v, but a %v graph's map %d has %v", l, got, g.Shape(), l, want)
		}
	}
	return nil
}

// widthsOf returns the widths n_0..n_{H+1} of the nodes the layers connect.
func widthsOf[T tensor.Float](layers []*layer.Dense[T]) []int {
	w := []int{layers[0].In()}
	for _, d := range layers {
		w = append(w, d.Out())
	}
	return w
}

// Hidden returns H.
func (n *Network[T]) Hidden() int { return n.h }

// Config returns the network's configuration with defaults filled in.
func (n *Network[T]) Config() Config { return n.cfg }

// Layers returns the network's weight layers (the ones given to New), or nil for a
// graph network whose maps are not all Dense (see Maps).
func (n *Network[T]) Layers() []*layer.Dense[T] { return n.layers }

// Maps returns the network's maps, one per node 0..H (New's layers as maps).
func (n *Network[T]) Maps() []layer.Map[T] { return n.maps }

// Graph returns the network's layer graph (the chain for New).
func (n *Network[T]) Graph() *graph.Graph { return n.g }

// Updates returns the weight update dW_l(e_{l+1}) of every weight layer from the last
// batch: the direction PC moves theta_l in (a negative gradient estimate, see docs/design.md §1's
// sign convention). Under Incremental it is the sum of the T steps' updates (with plain
// SGD, the weights' change over the batch divided by the learning rate).
// The values are owned by the network and change with the next batch.
func (n *Network[T]) Updates() []*layer.Grad[T] { return n.updates }

// Optimizers returns the optimiser states of layer l's weight and bias (nil without an
// optimiser), for checkpoints.
func (n *Network[T]) Optimizers(l int) [2]*optim.State[T] { return n.nodes[l].opt }

// Infer runs the feed-forward pass and T inference steps on the batch x (B x n_0, B at
// most MaxBatch) with labels, and computes every weight update without applying it. It
// returns the loss at the feed-forward values. x must not change until Infer returns.
//
// Under Incremental, Infer runs the T steps with the weights frozen: standard PC's
// inference, every product and message as in Learn, no optimiser step, and Updates
// holds the sum of the steps' updates. The weights and optimiser states are untouched.
//
// ctx bounds this batch only. Cancelling it ends the batch with an error that wraps
// ctx's and names a node that was waiting ("pcnet: batch cancelled while node 3 waited
// for the error from node 4: context deadline exceeded"); the network stays usable, and
// its next batch computes what it would have had the cancelled one never started. What
// the cancelled batch left in Updates is meaningless.
func (n *Network[T]) Infer(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	return n.runBatch(ctx, x, labels, false)
}

// Learn is Infer followed by one optimiser step of every layer along its update. Under
// Incremental every layer instead takes an optimiser step at each of the T inference
// steps, along that step's update, so a batch makes T steps per layer.
//
// As for Infer, ctx bounds this batch only. The optimiser steps are taken once every
// node has finished its inference, so a Learn cancelled before then leaves the weights
// and optimiser states as they were, and one cancelled after then is not cancelled.
// Under Incremental the layers learn during inference: a Learn cancelled part way
// leaves every layer after the steps it took (restore a checkpoint to undo them).
func (n *Network[T]) Learn(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	if n.cfg.Optimizer.Kind == 0 {
		return 0, errors.New("pcnet: Learn needs Config.Optimizer")
	}
	return n.runBatch(ctx, x, labels, true)
}

func (n *Network[T]) checkBatch(x *tensor.Matrix[T], labels []int) error {
	r, c := x.Dims()
	if c != n.widths[0] {
		return fmt.Errorf("pcnet: batch has %d columns, the input layer takes %d", c, n.widths[0])
	}
	if err := checkRows(r, n.cfg.MaxBatch); err != nil {
		return err
	}
	if err := checkLabels(labels, r, n.widths[n.h+1]); err != nil {
		return err
	}
	return checkInput(x, r, c)
}

// checkRows checks a batch size against MaxBatch.
func checkRows(rows, maxBatch int) error {
	switch {
	case rows < 1:
		return fmt.Errorf("pcnet: a batch of %d rows; need at least 1", rows)
	case rows > maxBatch:
		return fmt.Errorf("pcnet: batch of %d rows exceeds MaxBatch %d", rows, maxBatch)
	}
	return nil
}

// checkInput checks the input node's batch: rows x cols, every value finite.
func checkInput[T tensor.Float](x *tensor.Matrix[T], rows, cols int) error {
	if x == nil {
		return errors.New("pcnet: no batch for the input node")
	}
	r, c := x.Dims()
	switch {
	case c != cols:
		return fmt.Errorf("pcnet: batch has %d columns, the input layer takes %d", c, cols)
	case r != rows:
		return fmt.Errorf("pcnet: batch has %d rows, expected %d", r, rows)
	}
	for i := 0; i < r; i++ {
		row := x.Row(i)
		if j := layer.FirstNonFinite(row); j >= 0 {
			return fmt.Errorf("%w: the batch's row %d, column %d is %v", ErrNonFinite, i, j, row[j])
		}
	}
	return nil
}

// checkLabels checks the output node's labels: one per row, each in [0, classes).
func checkLabels(labels []int, rows, classes int) error {
	if len(labels) != rows {
		return fmt.Errorf("pcnet: %d labels for a batch of %d rows", len(labels), rows)
	}
	for i, y := range labels {
		if y < 0 || y >= classes {
			return fmt.Errorf("pcnet: label %d of row %d is outside [0, %d)", y, i, classes)
		}
	}
	return nil
}

func (n *Network[T]) runBatch(ctx context.Context, x *tensor.Matrix[T], labels []int, learn bool) (float64, error) {
	if err := n.ready(ctx); err != nil {
		return 0, err
	}
	if err := n.checkBatch(x, labels); err != nil {
		return 0, err
	}
	if err := n.run(ctx, x, labels, learn); err != nil {
		return 0, err
	}
	loss := n.node(n.h + 1).loss
	if err := n.fault(); err != nil {
		return loss, err
	}
	if n.cfg.Observer != nil {
		batch, _ := x.Dims()
		first, last := n.energy()
		n.cfg.Observer.Batch(BatchStats{Variant: n.cfg.Variant, Hidden: n.h, Steps: n.cfg.Steps, Batch: batch, Loss: loss, Learned: learn,
			EnergyFirst: first, EnergyLast: last})
	}
	return loss, nil
}

// Close stops the network's goroutines and waits for them. It is idempotent.
func (n *Network[T]) Close() error { return n.close() }
