package pcnet

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// PartSpec describes a Part: which nodes of which network it hosts, and how it reaches
// the others.
type PartSpec[T tensor.Float] struct {
	// Widths are the node widths n_0..n_{H+1} of the whole network (H >= 1) when it is
	// a chain; with Graph, nil or Graph's widths.
	Widths []int
	// Graph is the network's layer graph (docs/design.md §11): a chain, a residual
	// network, long skips. Nil: the chain on Widths. Every part of a network must be
	// given the same graph.
	Graph *graph.Graph
	// Lo and Hi are the first and last node hosted, 0 <= Lo <= Hi <= H+1.
	Lo, Hi int
	// Layers are theta_l of the hosted nodes that have one, l = Lo..min(Hi, H), in order,
	// when every one is a dense layer; Maps are the same as any layer.Map (a residual
	// network's layer.PreAct maps), checked as NewGraph checks a network's. Give one of
	// the two. The part uses them (it does not copy them): read them only between
	// batches.
	Layers []*layer.Dense[T]
	Maps   []layer.Map[T]
	// Config is the network's configuration; every part of a network must be given the
	// same. Its Engine must be Parallel (or zero) and its Observer nil: a part records
	// its nodes' statistics in its reports instead (see Observe).
	Config Config
	// Transport makes the links of the hosted nodes, one per edge with a hosted end
	// (channels.Transport.Edge): those between two hosted nodes, the chain links Lo-1
	// and Hi to the nodes just outside the range, and the long skips that cross the
	// range's bounds, whose other ends belong to other parts.
	Transport channels.Transport[T]
	// Observe records every hosted node's statistics (StepStats, NodeStats) in the
	// reports, for an Observer elsewhere to replay.
	Observe bool
}

// Part hosts a contiguous range of nodes of a network, a chain or any layer graph
// (docs/design.md §11): the same node host as a Network's
// (node cores, actors, parallel engine) over those nodes alone, linked to the rest of the
// network by a channels.Transport. A network split into parts that run the same batches
// computes bit for bit what one Network computes: every node does the same arithmetic
// on the same messages in the same order, whoever carries them.
//
// Every part of a network runs every batch: the part of node 0 given the batch, the part
// of node H+1 given the labels, every part the batch size. Its methods must not be
// called concurrently.
type Part[T tensor.Float] struct {
	*host[T]
	rec     *Recorder     // with Observe
	reports []NodeReport  // the last batch's, with Observe
	labels  map[int][]int // stand-in labels by batch size, for a part without node H+1
}

// NewPart builds the part and starts its node goroutines under ctx, which bounds the
// part's life as Close does. The links are made here, so every part of a run must be
// built for its batches to run.
func NewPart[T tensor.Float](ctx context.Context, spec PartSpec[T]) (*Part[T], error) {
	g, maps, err := spec.graphAndMaps()
	if err != nil {
		return nil, err
	}
	if spec.Transport == nil {
		return nil, errors.New("pcnet: part: no transport")
	}
	cfg := spec.Config.withDefaults()
	if cfg.Engine != Parallel {
		return nil, fmt.Errorf("pcnet: part: a part runs the parallel engine[T], not %v", cfg.Engine)
	}
	if cfg.Observer != nil {
		return nil, errors.New("pcnet: part: Config.Observer must be nil; set PartSpec.Observe and replay the reports")
	}
	p := &Part[T]{labels: map[int][]int{}}
	hs := hostSpec[T]{cfg: cfg, g: g, lo: spec.Lo, hi: spec.Hi, maps: maps, transport: spec.Transport}
	if spec.Observe {
		p.rec = &Recorder{}
		hs.observe = p.rec.Node
		p.reports = make([]NodeReport, spec.Hi-spec.Lo+1)
	}
	ho, err := newHost(ctx, hs)
	if err != nil {
		return nil, err
	}
	p.host = ho
	return p, nil
}

// graphAndMaps checks the spec's graph (or widths), range and maps, and returns the
// graph and the hosted maps.
func (spec *PartSpec[T]) graphAndMaps() (*graph.Graph, []layer.Map[T], error) {
	g := spec.Graph
	if g == nil {
		h := len(spec.Widths) - 2
		if h < 1 {
			return nil, nil, fmt.Errorf("pcnet: part: %d node widths make H = %d; a PC network needs H >= 1", len(spec.Widths), h)
		}
		for l, w := range spec.Widths {
			if w < 1 {
				return nil, nil, fmt.Errorf("pcnet: part: node %d has width %d", l, w)
			}
		}
		var err error
		if g, err = graph.New(spec.Widths, graph.Chain, nil); err != nil {
			return nil, nil, fmt.Errorf("pcnet: part: %w", err)
		}
	} else if spec.Widths != nil && !slices.Equal(spec.Widths, g.Widths()) {
		return nil, nil, fmt.Errorf("pcnet: part: widths %v are not the graph's %v", spec.Widths, g.Widths())
	}
	h := g.H()
	if spec.Lo < 0 || spec.Hi < spec.Lo || spec.Hi > h+1 {
		return nil, nil, fmt.Errorf("pcnet: part: node range [%d, %d] is not within [0, %d]", spec.Lo, spec.Hi, h+1)
	}
	maps := spec.Maps
	switch {
	case spec.Layers != nil && spec.Maps != nil:
		return nil, nil, fmt.Errorf("pcnet: part [%d, %d]: both Layers and Maps given; give one", spec.Lo, spec.Hi)
	case spec.Maps == nil:
		maps = make([]layer.Map[T], len(spec.Layers))
		for i, d := range spec.Layers {
			if d == nil {
				return nil, nil, fmt.Errorf("pcnet: part: layer %d is nil", spec.Lo+i)
			}
			maps[i] = d
		}
	}
	if want := max(min(spec.Hi, h)-spec.Lo+1, 0); len(maps) != want {
		return nil, nil, fmt.Errorf("pcnet: part [%d, %d]: %d layers given for %d hosted weight layers", spec.Lo, spec.Hi, len(maps), want)
	}
	if err := checkMapRange(g, spec.Lo, maps); err != nil {
		return nil, nil, fmt.Errorf("pcnet: part: %w", err)
	}
	return g, maps, nil
}

// PartBatch is what a part needs of a batch.
type PartBatch[T tensor.Float] struct {
	Rows   int               // the batch size, 1..MaxBatch
	X      *tensor.Matrix[T] // the batch (Rows x n_0): only for the part of node 0
	Labels []int             // the labels (Rows): only for the part of node H+1
	Learn  bool              // Learn (an optimiser step) rather than Infer
}

// PartReport is what a part shows of a batch.
type PartReport struct {
	// Loss is the loss at the feed-forward values, from the part of node H+1 (0 in the
	// others).
	Loss float64
	// Nodes are the hosted nodes' statistics, in node order, with PartSpec.Observe.
	// They are owned by the part and change with the next batch.
	Nodes []NodeReport
	// Fault is the batch's failure in this part (it wraps ErrNonFinite when a value was
	// not finite), nil if none. A network's fault is the output node's part's first,
	// then the first part's in node order (see Network.Learn).
	Fault error
	// FaultNode is the node whose fault Fault is (-1 with none): a caller that gathers
	// the parts' reports finds a network's fault as Network.Learn does, the output
	// node's first, then the first in node order.
	FaultNode int
}

// Range returns the first and last node hosted.
func (p *Part[T]) Range() (lo, hi int) { return p.lo, p.hi }

// Hidden returns H.
func (p *Part[T]) Hidden() int { return p.h }

// Layers returns theta_l of the hosted nodes that have one, from Lo on, when every one
// is a dense layer (else nil: see Maps).
func (p *Part[T]) Layers() []*layer.Dense[T] { return p.layers }

// Maps returns the maps of the hosted nodes that have one, from Lo on.
func (p *Part[T]) Maps() []layer.Map[T] { return p.maps }

// Graph returns the network's layer graph.
func (p *Part[T]) Graph() *graph.Graph { return p.g }

// Updates returns the last batch's weight updates of Layers (see Network.Updates).
func (p *Part[T]) Updates() []*layer.Grad[T] { return p.updates }

// Optimizers returns the optimiser states of weight layer l (a hosted node's) for
// checkpoints: weight, bias; nil without an optimiser.
func (p *Part[T]) Optimizers(l int) ([2]*optim.State[T], error) {
	if l < p.lo || l > min(p.hi, p.h) {
		return [2]*optim.State[T]{}, fmt.Errorf("pcnet: part [%d, %d] does not host weight layer %d", p.lo, p.hi, l)
	}
	return p.nodes[l-p.lo].opt, nil
}

// Run runs one batch on the hosted nodes, exchanging messages with the other parts,
// and returns the part's report. An error (a bad batch, a cancelled ctx, a broken link)
// is the part's own failure. Unlike a Network, a part is stopped by a cancelled batch as by
// a broken one: its links reach other processes, whose nodes may still be inside the
// batch, so they cannot be made afresh here. Every later Run returns an error wrapping
// ErrClosed.
func (p *Part[T]) Run(ctx context.Context, b PartBatch[T]) (PartReport, error) {
	if err := p.ready(ctx); err != nil {
		return PartReport{}, err
	}
	if b.Learn && p.cfg.Optimizer.Kind == 0 {
		return PartReport{}, errors.New("pcnet: Learn needs Config.Optimizer")
	}
	if err := p.checkBatch(b); err != nil {
		return PartReport{}, err
	}
	labels := b.Labels
	if p.hi <= p.h {
		// Only the output node reads the labels; the others take the batch size from them.
		if labels = p.labels[b.Rows]; labels == nil {
			labels = make([]int, b.Rows)
			p.labels[b.Rows] = labels
		}
	}
	if err := p.run(ctx, b.X, labels, b.Learn); err != nil {
		return PartReport{}, err
	}
	var rep PartReport
	if p.hi == p.h+1 {
		rep.Loss = p.node(p.h + 1).loss
	}
	rep.FaultNode, rep.Fault = p.faultAt()
	if p.rec != nil {
		p.rec.reports(p.reports)
		rep.Nodes = p.reports
	}
	return rep, nil
}

func (p *Part[T]) checkBatch(b PartBatch[T]) error {
	if err := checkRows(b.Rows, p.cfg.MaxBatch); err != nil {
		return err
	}
	if p.lo == 0 {
		if err := checkInput(b.X, b.Rows, p.widths[0]); err != nil {
			return err
		}
	} else if b.X != nil {
		return fmt.Errorf("pcnet: part [%d, %d] was given a batch: only node 0's part reads it", p.lo, p.hi)
	}
	if p.hi == p.h+1 {
		if err := checkLabels(b.Labels, b.Rows, p.widths[p.h+1]); err != nil {
			return err
		}
	} else if b.Labels != nil {
		return fmt.Errorf("pcnet: part [%d, %d] was given labels: only node %d's part reads them", p.lo, p.hi, p.h+1)
	}
	return nil
}

// Close stops the part's goroutines and waits for them. It is idempotent; it does not
// close the transport.
func (p *Part[T]) Close() error { return p.close() }
