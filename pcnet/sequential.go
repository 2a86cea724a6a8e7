package pcnet

import (
	"context"
	"fmt"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// seqLinks are the sequential engine's stand-ins for the messages: up[l] carries
// p_l (written by node l-1), down[l] carries pi_l e_l (written by node l).
type seqLinks[T tensor.Float] struct {
	up, down []*tensor.Matrix[T]
	// What the last message on each link said; a matrix is written only for a full one.
	upPayload, downPayload []channels.Payload
	// downView[l] is where the message pi_l e_l is read: down[l], or e_l when pi_l = 1.
	downView []*tensor.Matrix[T]
}

func (n *host[T]) seqLinks(batch int) *seqLinks[T] {
	if s, ok := n.seq[batch]; ok {
		return s
	}
	s := &seqLinks[T]{
		up: make([]*tensor.Matrix[T], n.h+2), down: make([]*tensor.Matrix[T], n.h+2),
		upPayload: make([]channels.Payload, n.h+2), downPayload: make([]channels.Payload, n.h+2),
		downView: make([]*tensor.Matrix[T], n.h+2),
	}
	for l := 1; l <= n.h+1; l++ {
		s.up[l] = tensor.New[T](batch, n.nodes[l].width, nil)
		s.down[l] = tensor.New[T](batch, n.nodes[l].width, nil)
	}
	n.seq[batch] = s
	return s
}

// runSequential runs one batch in the caller's goroutine: a Jacobi sweep per step, in
// which every node's error is formed from the previous step's values before any node
// moves. The host holds every node (a Network's). ctx is checked before every step, and
// the layers learn only after the last one, so a cancelled batch leaves the weights as
// they were (but under Incremental, see Network.Learn).
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
	n.nodes[0].feedForward(nil, s.up[1], false)
	for l := 1; l <= h; l++ {
		// up[l] keeps mu_l for the batch unless node l-1 sends newer predictions into it.
		n.nodes[l].feedForward(s.up[l], s.up[l+1], !n.nodes[l].receivesPrediction())
	}
	n.nodes[h+1].feedForward(s.up[h+1], nil, false)
	clear(s.upPayload) // the feed-forward values are full messages
	for t := 0; t <= steps; t++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pcnet: batch cancelled at step %d, before node %d formed its error: %w", t, h+1, err)
		}
		for l := h + 1; l >= 1; l-- {
			nd := n.nodes[l]
			var below *tensor.Matrix[T]
			if t == 0 || nd.receivesPrediction() {
				below = s.up[l]
			}
			// With pi_l = 1 the message is e_l itself: node l-1 reads it in this step's
			// sweep below, before node l changes e_l (nodes integrate from l = 0 up), so
			// no copy is needed.
			if nd.pi == 1 {
				s.downPayload[l] = nd.formError(t, s.upPayload[l], below, nil)
				s.downView[l] = nd.errorView()
			} else {
				s.downPayload[l] = nd.formError(t, s.upPayload[l], below, s.down[l])
				s.downView[l] = s.down[l]
			}
		}
		for l := 0; l <= h; l++ {
			nd := n.nodes[l]
			var up *tensor.Matrix[T]
			if t < steps && nd.sendsPrediction() {
				up = s.up[l+1]
			}
			nd.absorb(t, s.downPayload[l+1], s.downView[l+1])
			if p := nd.integrate(t, up); up != nil {
				s.upPayload[l+1] = p
			}
		}
	}
	for _, nd := range n.nodes {
		if learn && nd.layer != nil {
			nd.learn()
		}
	}
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
