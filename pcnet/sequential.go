package pcnet

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// seqLinks are the sequential engine's stand-ins for the messages: up[k] carries the
// prediction term of edge k (ids as in edges: l for the chain edge l -> l+1, H+1+k for
// skip k), written by the edge's parent; down[l] carries pi_l e_l (written by node l),
// read by every parent of l.
type seqLinks[T tensor.Float] struct {
	up, down []*tensor.Matrix[T]
	// What the last message on each link said; a matrix is written only for a full one.
	upPayload, downPayload []channels.Payload
	// downView[l] is where the message pi_l e_l is read: down[l], or e_l when pi_l = 1.
	downView []*tensor.Matrix[T]
	// The in-edges' messages of the node forming its error (scratch, no allocation).
	pays []channels.Payload
	msgs []*tensor.Matrix[T]
}

func (n *host[T]) seqLinks(batch int) *seqLinks[T] {
	if s, ok := n.seq[batch]; ok {
		return s
	}
	skips := n.g.Skips()
	edges := n.h + 1 + len(skips)
	s := &seqLinks[T]{
		up: make([]*tensor.Matrix[T], edges), down: make([]*tensor.Matrix[T], n.h+2),
		upPayload: make([]channels.Payload, edges), downPayload: make([]channels.Payload, n.h+2),
		downView: make([]*tensor.Matrix[T], n.h+2),
	}
	for l := 0; l <= n.h; l++ {
		s.up[l] = tensor.New[T](batch, n.widths[l+1], nil)
	}
	for k, sk := range skips {
		s.up[n.h+1+k] = tensor.New[T](batch, n.widths[sk.To], nil)
	}
	for l := 1; l <= n.h+1; l++ {
		s.down[l] = tensor.New[T](batch, n.nodes[l].width, nil)
	}
	n.seq[batch] = s
	return s
}

// inbound returns node nd's in-edge messages at step t, for gather: at t = 0 the
// feed-forward values, later the last message of each edge whose parent sends
// predictions after the feed-forward pass (unchanged for the others). A node with one
// parent that is sent no new predictions gets no matrix at t > 0, as formError expects.
func (s *seqLinks[T]) inbound(n *host[T], nd *node[T], t int) (channels.Payload, *tensor.Matrix[T]) {
	s.pays, s.msgs = s.pays[:0], s.msgs[:0]
	for k, id := range nd.ins {
		p, m := s.upPayload[id], s.up[id]
		if t > 0 && !nd.parentSends(nd.from[k]) {
			p, m = channels.Unchanged, nil
		}
		s.pays, s.msgs = append(s.pays, p), append(s.msgs, m)
	}
	if len(nd.ins) == 1 && t > 0 && !nd.receivesPrediction() {
		return s.upPayload[nd.ins[0]], nil
	}
	return nd.gather(t, s.pays, s.msgs)
}

// sendSkips writes the node's value x_l to the links of its skip children when the
// message says it changed (p Full), and records what the messages say.
func (s *seqLinks[T]) sendSkips(nd *node[T], p channels.Payload) {
	for _, id := range nd.outs[1:] {
		if p == channels.Full {
			s.up[id].Copy(nd.point())
		}
		s.upPayload[id] = p
	}
}

// runSequential runs one batch in the caller's goroutine: a Jacobi sweep per step, in
// which every node's error is formed from the previous step's values before any node
// moves. The host holds every node (a Network's). ctx is checked before every step, and
// the layers learn only in the last one, each after its last act (with more than one
// core on a goroutine beside the sweep: seqLearner), so a cancelled batch leaves the
// weights as they were (but under Incremental, see Network.Learn).
func (n *host[T]) runSequential(ctx context.Context, x *tensor.Matrix[T], labels []int, learn bool) error {
	batch := len(labels)
	for _, nd := range n.nodes {
		nd.begin(x, labels)
	}
	s := n.seqLinks(batch)
	h, steps := n.h, n.cfg.Steps
	var start time.Time
	if n.cfg.Observer != nil {
		start = time.Now()
	}
	// iPC has taken its steps during inference (node.learn).
	lr := n.seqLearner(learn && n.cfg.Variant != Incremental)
	// Deferred too, so that a panic in a sweep still waits for the learner's goroutines.
	defer lr.wait()
	clear(s.upPayload) // the feed-forward values are full messages
	n.nodes[0].feedForward(nil, s.up[0], false)
	s.sendSkips(n.nodes[0], channels.Full)
	for l := 1; l <= h; l++ {
		nd := n.nodes[l]
		_, below := s.inbound(n, nd, 0)
		// below keeps mu_l for the batch unless a parent sends newer predictions into it.
		nd.feedForward(below, s.up[l], !nd.receivesPrediction())
		s.sendSkips(nd, channels.Full)
	}
	_, below := s.inbound(n, n.nodes[h+1], 0)
	n.nodes[h+1].feedForward(below, nil, false)
	for t := 0; t <= steps; t++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pcnet: batch cancelled at step %d, before node %d formed its error: %w", t, h+1, err)
		}
		for l := h + 1; l >= 1; l-- {
			nd := n.nodes[l]
			pred, below := s.inbound(n, nd, t)
			// With pi_l = 1 the message is e_l itself: the parents read it in this step's
			// sweep below, before node l changes e_l (nodes integrate from l = 0 up, and
			// every parent is below its child), so no copy is needed.
			if nd.pi == 1 {
				s.downPayload[l] = nd.formError(t, pred, below, nil)
				s.downView[l] = nd.errorView()
			} else {
				s.downPayload[l] = nd.formError(t, pred, below, s.down[l])
				s.downView[l] = s.down[l]
			}
		}
		for l := 0; l <= h; l++ {
			nd := n.nodes[l]
			var up *tensor.Matrix[T]
			if t < steps && nd.sendsPrediction() {
				up = s.up[l]
			}
			nd.absorb(t, s.downPayload[l+1], s.downView[l+1])
			for k, j := range nd.to[1:] {
				nd.absorbSkip(k, s.downPayload[j], s.downView[j])
			}
			if p := nd.integrate(t, up); up != nil {
				s.upPayload[l] = p
				s.sendSkips(nd, p)
			}
			if t == steps && learn && nd.m != nil {
				// The node's last act is done and nothing later in the sweep reads
				// theta_l (a weight VJP reads the point and the cotangent alone), so it
				// learns now, while its update is still in cache, as backprop steps each
				// layer as soon as its gradient is made (train.BP); the step is past the
				// last cancellation check, so a cancelled batch still moves no weight.
				lr.hand(l)
			}
		}
	}
	lr.wait()
	if n.cfg.Observer != nil {
		// One goroutine does every node's work, so a node's compute time is not its own;
		// the whole batch is reported on the output node and nothing waits.
		for _, nd := range n.nodes {
			if nd.l == h+1 {
				nd.stats.Compute = time.Since(start)
			}
			if nd.obs != nil {
				nd.obs.End(nd.stats)
			}
		}
	}
	return nil
}

// seqLearner takes the optimiser steps of a sequential batch. With one core it steps a
// node as soon as it is handed over; with more, it starts a goroutine per node handed
// over, which steps it while the sweep goes on with the weight VJPs of the nodes above, as
// train.BP overlaps its steps with the backward wave (issue 18: on two cores the steps,
// which stream memory, otherwise add to an exact FPA-PC update what BP hides). Each node
// steps on its own parameters with its own update whichever goroutine runs it, so the
// bits are the same either way. A goroutine per node rather than one that receives the
// nodes: a goroutine blocked on a channel takes a waiter record that the runtime
// allocates now and then (see TestLearnAllocatesNothingAfterWarmUp), one that never
// blocks takes none.
type seqLearner[T tensor.Float] struct {
	// step[i] steps n.nodes[i] and marks it done, a function made once: a go statement
	// on a function with arguments, or on a method value, allocates.
	step    []func()
	stepped sync.WaitGroup
	overlap bool // the batch learns beside the sweep
}

// seqLearner returns the host's learner, which steps beside the sweep when the batch
// learns and more than one core may run.
func (n *host[T]) seqLearner(learn bool) *seqLearner[T] {
	if n.learner == nil {
		lr := &seqLearner[T]{}
		for _, nd := range n.nodes {
			lr.step = append(lr.step, func() {
				defer lr.stepped.Done()
				nd.learn()
			})
		}
		n.learner = lr
	}
	n.learner.overlap = learn && runtime.GOMAXPROCS(0) > 1
	return n.learner
}

// hand gives the learner n.nodes[i], whose update is final.
func (lr *seqLearner[T]) hand(i int) {
	lr.stepped.Add(1)
	if !lr.overlap {
		lr.step[i]()
		return
	}
	go lr.step[i]()
}

// wait returns once every node handed over has stepped.
func (lr *seqLearner[T]) wait() { lr.stepped.Wait() }
