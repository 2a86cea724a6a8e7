package pcnet

import (
	"context"
	"fmt"
	"sync"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// host builds, links and guards a contiguous range [lo, hi] of the nodes 0..H+1 of a
// network: the node cores, the engine that drives them, and whether a batch may still
// run. A Network is the host of every node over in-process links; a Part is the host of
// its range, linked to the other parts by the transport it is given. Everything the two
// share lives here, so that they cannot drift apart.
type host[T tensor.Float] struct {
	cfg     Config
	h       int
	lo, hi  int
	g       *graph.Graph      // the network's layer graph (the chain for New and NewPart)
	widths  []int             // n_0..n_{H+1} of the whole network
	maps    []layer.Map[T]    // theta_l of the hosted nodes that have one, from lo on
	layers  []*layer.Dense[T] // the same as Dense layers, when every map is one (else nil)
	nodes   []*node[T]        // lo..hi
	updates []*layer.Grad[T]  // the hosted nodes' weight updates, from lo on

	eng     *engine[T]           // the parallel engine; nil under Sequential
	seq     map[int]*seqLinks[T] // the sequential engine's messages, by batch size
	learner *seqLearner[T]       // the sequential engine's optimiser steps

	broken    error // set once the host can run no batch: every later one returns it
	closeOnce sync.Once
}

// hostSpec is what a host is built from. cfg has its defaults filled in.
type hostSpec[T tensor.Float] struct {
	cfg    Config
	g      *graph.Graph // its widths are the network's
	lo, hi int
	maps   []layer.Map[T]
	// observe returns the observer of one hosted node (nil: none).
	observe func(NodeInfo) NodeObserver
	// transport makes the parallel engine's links. Nil: in-process links of the host's
	// own, which it can remake after a cancelled batch, so that a cancelled batch leaves
	// the host usable. A given transport's links may reach other processes, whose nodes
	// may still be inside the batch: a cancelled batch then stops the host.
	transport channels.Transport[T]
}

// newHost checks what the node ranges of a network and a part share (the configuration
// against H, the optimiser, finite weights), builds the hosted nodes and, for the
// parallel engine, links them and starts their goroutines under ctx. The caller has
// checked the graph, the range and the maps' shapes.
func newHost[T tensor.Float](ctx context.Context, s hostSpec[T]) (*host[T], error) {
	h := s.g.H()
	if err := s.cfg.Validate(h); err != nil {
		return nil, err
	}
	if err := s.cfg.validateGraph(s.g); err != nil {
		return nil, err
	}
	for i, m := range s.maps {
		if err := checkFinite(s.lo+i, m); err != nil {
			return nil, err
		}
	}
	if s.cfg.Optimizer.Kind != 0 {
		if err := s.cfg.Optimizer.Validate(); err != nil {
			return nil, fmt.Errorf("pcnet: optimizer: %w", err)
		}
	}
	ho := &host[T]{cfg: s.cfg, h: h, lo: s.lo, hi: s.hi, g: s.g, widths: s.g.Widths(), maps: s.maps, layers: denseOf(s.maps)}
	for l := s.lo; l <= s.hi; l++ {
		var m layer.Map[T]
		if l <= h {
			m = s.maps[l-s.lo]
		}
		nd := newNode(&ho.cfg, l, h, m, ho.widths[l])
		nd.from, nd.to, nd.ins, nd.outs = edges(s.g, l)
		if s.observe != nil {
			nd.obs = s.observe(nd.info(s.g))
			nd.watched = true
		}
		if nd.grad != nil {
			ho.updates = append(ho.updates, nd.grad)
		}
		ho.nodes = append(ho.nodes, nd)
	}
	if s.cfg.Engine == Sequential {
		ho.seq = map[int]*seqLinks[T]{}
		return ho, nil
	}
	eng, err := startEngine(ctx, ho.nodes, ho.widths, s.cfg.MaxBatch, s.transport)
	if err != nil {
		return nil, err
	}
	ho.eng = eng
	return ho, nil
}

// denseOf returns the maps as Dense layers when every one is, else nil.
func denseOf[T tensor.Float](maps []layer.Map[T]) []*layer.Dense[T] {
	out := make([]*layer.Dense[T], len(maps))
	for i, m := range maps {
		d, ok := m.(*layer.Dense[T])
		if !ok {
			return nil
		}
		out[i] = d
	}
	return out
}

// edges returns node l's parents and children in the order its messages are summed
// (the chain neighbour first, then the skips' other ends ascending) and the ids of the
// edges to them: l for the chain edge l -> l+1, H+1+k for the graph's skip k.
func edges(g *graph.Graph, l int) (from, to, ins, outs []int) {
	h := g.H()
	if l > 0 {
		from, ins = append(from, l-1), append(ins, l-1)
	}
	if l <= h {
		to, outs = append(to, l+1), append(outs, l)
	}
	for k, s := range g.Skips() {
		if s.To == l {
			from, ins = append(from, s.From), append(ins, h+1+k)
		}
		if s.From == l {
			to, outs = append(to, s.To), append(outs, h+1+k)
		}
	}
	return from, to, ins, outs
}

// newNode builds node l of a network of h hidden nodes, width n_l, with theta_l = m
// (nil for the output node).
func newNode[T tensor.Float](cfg *Config, l, h int, m layer.Map[T], width int) *node[T] {
	nd := &node[T]{l: l, h: h, cfg: cfg, pi: cfg.precision(l, h), gamma: cfg.stepSize(), event: cfg.Schedule == Event, work: map[int]*nodeWork[T]{}, width: width}
	switch {
	case l == 0:
		nd.role = inputRole
	case l == h+1:
		nd.role = outputRole
	default:
		nd.role = hiddenRole
	}
	if m != nil {
		nd.m = m
		nd.grad = layer.GradFor(m)
		if cfg.Variant == Incremental {
			nd.step = layer.GradFor(m)
		}
		if cfg.Optimizer.Kind != 0 {
			nd.opt[0] = optim.NewState[T](cfg.Optimizer, len(m.Params()[0]))
			nd.opt[1] = optim.NewState[T](cfg.Optimizer, len(m.Params()[1]))
		}
	}
	return nd
}

// energy returns F(0) and F(T) of the last batch: the hosted nodes' terms added in node
// order, as Energy adds a recorder's (the input node's term is zero).
func (n *host[T]) energy() (first, last float64) {
	for _, nd := range n.nodes {
		if nd.l >= 1 {
			first += nd.energyFirst
			last += nd.energy
		}
	}
	return first, last
}

// info describes the node to an Observer.
func (nd *node[T]) info(g *graph.Graph) NodeInfo {
	return nd.cfg.GraphNodeInfo(g, nd.l)
}

// node returns hosted node l.
func (ho *host[T]) node(l int) *node[T] { return ho.nodes[l-ho.lo] }

// ready reports why no batch may start: the host is stopped, or ctx is done already.
func (ho *host[T]) ready(ctx context.Context) error {
	if ho.broken != nil {
		return ho.broken
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pcnet: batch cancelled before it started: %w", err)
	}
	return nil
}

// run runs one batch, already checked by the caller, on the hosted nodes. ctx bounds the
// batch alone: cancelling it ends the batch with an error that names a node that was
// waiting, no optimiser step is applied after the inference (see engine.run), and the
// host runs the next batch as if this one had never started, unless its links are not
// its own (a Part's), which stops it. A failed batch of any other kind (a broken link, a
// panic) stops the host.
func (ho *host[T]) run(ctx context.Context, x *tensor.Matrix[T], labels []int, learn bool) error {
	if err := checkRepaired(ho.nodes); err != nil {
		return err
	}
	// The engines own the nodes only while a batch runs; batches are not concurrent, so
	// this write is ordered before the batch's first read.
	for _, nd := range ho.nodes {
		nd.learning = learn
		// Only a learning batch of the parallel engine has a commit phase to wait for.
		nd.lateUpdate = learn && ho.eng != nil && !nd.incremental()
	}
	if ho.eng == nil {
		return ho.runSequential(ctx, x, labels, learn)
	}
	err := ho.eng.run(ctx, batchCmd[T]{x: x, labels: labels, learn: learn})
	if ho.eng.broken != nil {
		ho.broken = ho.eng.broken
	}
	return err
}

// checkRepaired checks that the weights a failed learn step left non-finite, reported by
// their batch, were put right since (the caller may have restored them).
func checkRepaired[T tensor.Float](nodes []*node[T]) error {
	for _, nd := range nodes {
		if nd.fault != nil && nd.m != nil {
			if err := checkFinite(nd.l, nd.m); err != nil {
				return err
			}
		}
	}
	return nil
}

// fault is the fault of the last batch over the hosted nodes: the output node's (a
// non-finite loss) first, since it is the cause of any that learning then finds in the
// weights, then the first node's in order.
func (ho *host[T]) fault() error {
	_, err := ho.faultAt()
	return err
}

// faultAt returns the node that fault's error is from (-1 with none) and the error.
func (ho *host[T]) faultAt() (int, error) {
	for _, nd := range ho.nodes {
		if nd.role == outputRole && nd.fault != nil {
			return nd.l, nd.fault
		}
	}
	for _, nd := range ho.nodes {
		if nd.fault != nil {
			return nd.l, nd.fault
		}
	}
	return -1, nil
}

// close stops the node goroutines and waits for them. It is idempotent; every later batch
// returns ErrClosed.
func (ho *host[T]) close() error {
	var err error
	ho.closeOnce.Do(func() {
		if ho.eng != nil {
			err = ho.eng.stop()
		}
		if ho.broken == nil {
			ho.broken = ErrClosed
		}
	})
	return err
}
