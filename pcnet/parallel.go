package pcnet

import (
	"context"
	"fmt"
	"github.com/pcnet/pcnet/tensor"
	"slices"
	"time"

	"github.com/pcnet/pcnet/actor"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
)

// batchCmd starts one phase of a batch on a node actor. Every node gets the whole batch;
// the input node reads x and the output node the labels.
type batchCmd[T tensor.Float] struct {
	ctx    context.Context // the engine's batch context, cancelled when the batch is
	x      *tensor.Matrix[T]
	labels []int
	learn  bool
	// commit is the second phase of a learning batch: every node has finished its
	// inference, and the layers learn.
	commit bool
}

// report is what an actor says of one phase of a batch.
type report struct {
	node int
	err  error
	// cancelled: err says that the batch was cancelled while the node waited on a
	// neighbour, rather than that something failed at the node.
	cancelled bool
}

// nodeActor is the goroutine shell around one node core. It owns the node between
// batches; the engine hands it to the actor with a batchCmd and gets it back with the
// actor's report on engine.done, and those two channel operations order every access.
type nodeActor[T tensor.Float] struct {
	nd   *node[T]
	cmds chan batchCmd[T]
	done chan<- report

	// below[k] is the link of in-edge k (from nd.from[k]: predictions in, errors out),
	// above[k] that of out-edge k (to nd.to[k]: predictions out, errors in); the chain
	// edges come first. The input node has no below, the output node no above.
	below, above []*channels.Link[T]

	// Matrix headers pointed at the message buffers, so no message allocates, and the
	// in-edges' messages of the current step.
	predIn, errIn   []tensor.Matrix[T]
	predOut, errOut tensor.Matrix[T]
	held            []channels.Message[T]
	// kept: the node holds its one parent's prediction of step 0 (held[0]) for the whole
	// batch, as mu_l, rather than copy it and hand it back after its first error (a
	// hidden node sent no other prediction: FPA-PC). The parent sends on that link again
	// only in the next batch, so it never waits for the buffer; the node hands it back
	// once its part of the batch is over (releaseKept), after the commit that reads mu_l.
	kept bool
	pays []channels.Payload
	msgs []*tensor.Matrix[T]
	wait time.Duration
}

// linkBuffers is the number of message buffers per link direction. One suffices: a node
// hands an error back as soon as it has taken it in (absorb) and a prediction as soon as it
// has formed its error (but one it keeps for the batch, see kept, which its parent sends
// no other on), so the sender rarely waits for the buffer. More buffers let a
// node run ahead of its neighbour, which gains nothing when every step needs the
// neighbour's reply, and costs cache: on one core, FPA-PC at H = 8, width 64 spent 3.5%
// more than the sequential engine with 1 buffer, 8% with 2 and 18% with 4
// (BenchmarkEngineOverhead).
const linkBuffers = 1

// engine is the parallel engine over a contiguous range of nodes: one actor per node,
// each linked to its neighbours by the links of a transport. A Network runs all of its
// nodes on one engine over in-process links of its own; a Part runs its own range, and
// the links that leave the range may cross processes. The node cores never learn which.
//
// A batch runs under the engine's batch context, a child of the actors' group context
// that the engine cancels when the caller's context of the batch is done or a node
// fails, so that every node waiting on a neighbour gives up. The batch context lives
// from one cancelled batch to the next: a batch that runs to its end allocates nothing.
type engine[T tensor.Float] struct {
	group  *actor.Group
	actors []*nodeActor[T]
	done   chan report // one report per node per phase

	tr       channels.Transport[T]
	own      bool // tr is the engine's: it can remake the links after a cancelled batch
	widths   []int
	maxBatch int

	bctx    context.Context
	bcancel context.CancelCauseFunc

	// broken is set when a batch failed in a way the engine cannot recover from: it is
	// stopped and every later batch returns broken.
	broken error
}

// startEngine links the nodes (consecutive, node l at nodes[l-nodes[0].l]) to each other
// and to the nodes just outside their range by tr's links (nil: in-process links of the
// engine's own), shaped by the node widths n_0..n_{H+1} and maxBatch, and starts one
// actor per node under ctx.
func startEngine[T tensor.Float](ctx context.Context, nodes []*node[T], widths []int, maxBatch int, tr channels.Transport[T]) (*engine[T], error) {
	// Every node may be inside a product at once; reserve their scratch now so that no
	// update allocates it later.
	layer.Reserve[T](len(nodes))
	e := &engine[T]{done: make(chan report, len(nodes)), tr: tr, widths: widths, maxBatch: maxBatch}
	if tr == nil {
		e.tr, e.own = channels.NewInProcess[T](linkBuffers), true
	}
	for _, nd := range nodes {
		e.actors = append(e.actors, &nodeActor[T]{nd: nd, cmds: make(chan batchCmd[T], 1), done: e.done,
			predIn: make([]tensor.Matrix[T], len(nd.from)), errIn: make([]tensor.Matrix[T], len(nd.to)),
			held: make([]channels.Message[T], len(nd.from)), pays: make([]channels.Payload, len(nd.from)),
			msgs: make([]*tensor.Matrix[T], len(nd.from))})
	}
	if err := e.link(); err != nil {
		return nil, err
	}
	actors := make([]actor.Actor, len(e.actors))
	for i, a := range e.actors {
		actors[i] = actor.Actor{Name: fmt.Sprintf("layer %d", a.nd.l), Run: a.run}
	}
	e.group = actor.Start(ctx, actors...)
	e.bctx, e.bcancel = context.WithCancelCause(e.group.Context())
	return e, nil
}

// link makes the links of the engine's nodes with its transport and gives every actor
// its ends: one link per edge of the graph with a hosted end (docs/design.md §11), in the
// order of the edge ids (the chain edges from lo-1 to hi, then the skips), each made
// once. An edge with one end outside the range (a chain edge at lo-1 or hi, a long skip
// that crosses parts) is a link like any other: the transport holds its other ends. The
// actors must be idle.
func (e *engine[T]) link() error {
	links := map[int]*channels.Link[T]{}
	for _, ed := range e.edges() {
		// Both directions carry values of the upper node's width: its prediction terms
		// and its error (a skip's source has its target's width).
		w := e.widths[ed.Upper]
		link, err := e.tr.Edge(ed, e.maxBatch, w, e.maxBatch, w)
		if err != nil {
			return fmt.Errorf("pcnet: %v: %w", ed, err)
		}
		links[ed.ID] = link
	}
	for _, a := range e.actors {
		nd := a.nd
		a.below, a.above = a.below[:0], a.above[:0]
		for k, id := range nd.ins {
			lk := links[id]
			if lk.UpRecv == nil || lk.DownSend == nil {
				return fmt.Errorf("pcnet: the transport's link %d-%d lacks the ends node %d holds (up receiver, down sender)", nd.from[k], nd.l, nd.l)
			}
			a.below = append(a.below, lk)
		}
		for k, id := range nd.outs {
			lk := links[id]
			if lk.UpSend == nil || lk.DownRecv == nil {
				return fmt.Errorf("pcnet: the transport's link %d-%d lacks the ends node %d holds (up sender, down receiver)", nd.l, nd.to[k], nd.l)
			}
			a.above = append(a.above, lk)
		}
	}
	return nil
}

// edges returns the edges with a hosted end, by id.
func (e *engine[T]) edges() []channels.Edge {
	seen := map[int]channels.Edge{}
	for _, a := range e.actors {
		nd := a.nd
		for k, id := range nd.ins {
			seen[id] = channels.Edge{Lower: nd.from[k], Upper: nd.l, ID: id}
		}
		for k, id := range nd.outs {
			seen[id] = channels.Edge{Lower: nd.l, Upper: nd.to[k], ID: id}
		}
	}
	out := make([]channels.Edge, 0, len(seen))
	for _, ed := range seen {
		out = append(out, ed)
	}
	slices.SortFunc(out, func(a, b channels.Edge) int { return a.ID - b.ID })
	return out
}

// run runs one batch: the inference on every actor, then, when the batch learns, the
// optimiser steps on every actor once all of them have finished the inference, so that
// a batch cancelled during its inference has moved no weight (but iPC's, which move
// during it). A batch past its inference is past cancelling.
//
// A cancelled ctx ends the batch with the error of the first node in order that was
// waiting on a neighbour. If the engine's links are its own, it makes them afresh (the
// messages of the cancelled batch are dropped with the old ones) and runs the next batch
// as if this one had never started; otherwise it stops. A node that failed, or the end of
// the actors' context, stops the engine.
func (e *engine[T]) run(ctx context.Context, cmd batchCmd[T]) error {
	if e.broken != nil {
		return e.broken
	}
	cmd.ctx = e.bctx
	if err := e.phase(ctx, cmd); err != nil {
		return err
	}
	if !cmd.learn {
		return nil
	}
	cmd.commit = true
	return e.phase(context.Background(), cmd)
}

// phase hands cmd to every actor and collects their reports.
func (e *engine[T]) phase(ctx context.Context, cmd batchCmd[T]) error {
	for _, a := range e.actors {
		// Never blocks: an actor takes its command before it reports, and every report
		// of the last phase was collected.
		a.cmds <- cmd
	}
	var failed, waited report // the first node's in order of each kind; err nil if none
	cancelled := false        // whether bcancel was called
	done := ctx.Done()
	for n := 0; n < len(e.actors); {
		select {
		case r := <-e.done:
			n++
			switch {
			case r.err == nil:
			case r.cancelled:
				if waited.err == nil || r.node < waited.node {
					waited = r
				}
			default:
				if failed.err == nil || r.node < failed.node {
					failed = r
				}
				if !cancelled {
					// The failed node's neighbours wait for messages that will not come.
					e.bcancel(r.err)
					cancelled = true
				}
			}
		case <-done:
			e.bcancel(ctx.Err())
			cancelled, done = true, nil
		case <-e.group.Done():
			// An actor panicked, or the actors' context ended between batches.
			return e.fail(ErrClosed)
		}
	}
	switch {
	case failed.err != nil:
		return e.fail(failed.err)
	case e.group.Context().Err() != nil:
		// The actors' context ended during the batch (the network's context, or a panic
		// that the group has not finished reporting).
		err := error(ErrClosed)
		if waited.err != nil {
			err = waited.err
		}
		return e.fail(err)
	case !cancelled:
		return nil
	}
	// The batch was cancelled by its caller, or ended just as it was.
	e.bctx, e.bcancel = context.WithCancelCause(e.group.Context())
	if waited.err == nil {
		return nil // every node had finished
	}
	if !e.own {
		return e.fail(waited.err)
	}
	if err := e.link(); err != nil {
		return e.fail(err)
	}
	return waited.err
}

// fail stops the engine for good: the actors are stopped and waited for, and every later
// batch returns an error wrapping ErrClosed. It returns the batch's error: err, or the
// actors' own (a panic) if there is one.
func (e *engine[T]) fail(err error) error {
	e.group.Stop()
	if gerr := e.group.Wait(); gerr != nil {
		err = gerr
	}
	e.bcancel(ErrClosed)
	e.broken = fmt.Errorf("%w: %w", ErrClosed, err)
	return err
}

// stop stops the actors and waits for them.
func (e *engine[T]) stop() error {
	e.group.Stop()
	err := e.group.Wait()
	e.bcancel(ErrClosed)
	return err
}

func (a *nodeActor[T]) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case cmd := <-a.cmds:
			a.done <- a.phase(cmd)
		}
	}
}

// phase runs one phase of a batch: the inference, or the learning that commits it. The
// node's totals go to its observer when its part of the batch is over.
func (a *nodeActor[T]) phase(cmd batchCmd[T]) report {
	nd := a.nd
	observed := nd.obs != nil
	if cmd.commit {
		var t0 time.Time
		if observed {
			t0 = time.Now()
		}
		if nd.m != nil {
			nd.learn()
		}
		a.releaseKept()
		if observed {
			nd.stats.Compute += time.Since(t0)
			nd.obs.End(nd.stats)
		}
		return report{node: nd.l}
	}
	if err := a.batch(cmd.ctx, cmd); err != nil {
		if cmd.ctx.Err() != nil {
			return report{node: nd.l, err: err, cancelled: true}
		}
		return report{node: nd.l, err: fmt.Errorf("pcnet: node %d: %w", nd.l, err)}
	}
	if !cmd.learn {
		a.releaseKept()
	}
	if observed && !cmd.learn {
		nd.obs.End(nd.stats)
	}
	return report{node: nd.l}
}

// releaseKept hands back the prediction the node kept for the batch, if it did. (A
// batch that fails keeps it: its links are made anew or the engine stops.)
func (a *nodeActor[T]) releaseKept() {
	if a.kept && a.held[0].Buf != nil {
		a.below[0].UpRecv.Release(a.held[0])
		a.held[0].Buf = nil
	}
}

func view[T tensor.Float](dst *tensor.Matrix[T], b *channels.Buffer[T]) *tensor.Matrix[T] {
	*dst = tensor.Matrix[T]{Rows: b.Rows, Cols: b.Cols, Stride: b.Cols, Data: b.Data[:b.Rows*b.Cols]}
	return dst
}

// batch is one node's inference on a batch: the feed-forward pass, then for t = 0..T
// the error for the nodes below and the step from the errors above, exactly as
// runSequential orders them for this node. Messages to and from several neighbours go in
// the order of the node's edges (the chain neighbour first, then the skips' ends
// ascending); every wait is for a message of the same or the previous step, so no
// order of the nodes deadlocks.
func (a *nodeActor[T]) batch(ctx context.Context, cmd batchCmd[T]) error {
	nd := a.nd
	nd.begin(cmd.x, cmd.labels)
	observed := nd.obs != nil
	var start time.Time
	if observed {
		start = time.Now()
		a.wait = 0
	}
	steps := nd.cfg.Steps
	a.kept = nd.role == hiddenRole && len(a.below) == 1 && !nd.receivesPrediction()

	// Feed-forward: p_l(0) in from every parent, p_{l+1}(0) and x_l out to every child.
	var pred channels.Payload
	var below *tensor.Matrix[T]
	if len(a.below) > 0 {
		if err := a.recvPredictions(ctx, 0, observed); err != nil {
			return err
		}
		pred, below = nd.gather(0, a.pays, a.msgs)
	}
	if len(a.above) > 0 {
		buf, err := a.acquire(ctx, a.above[0].UpSend, channels.Prediction, nd.to[0], len(cmd.labels), nd.m.Out(), observed)
		if err != nil {
			return err
		}
		nd.feedForward(below, view(&a.predOut, buf), a.kept)
		if err := a.sendUp(ctx, buf, 0, channels.Full, observed); err != nil {
			return err
		}
	} else {
		nd.feedForward(below, nil, false)
	}

	for t := 0; t <= steps; t++ {
		if len(a.below) > 0 {
			if t > 0 {
				if err := a.recvPredictions(ctx, t, observed); err != nil {
					return err
				}
				pred, below = nd.gather(t, a.pays, a.msgs)
			}
			if err := a.sendErrors(ctx, t, pred, below, observed); err != nil {
				return err
			}
		}
		if len(a.above) > 0 {
			if err := a.recvErrors(ctx, t, observed); err != nil {
				return err
			}
			var out *channels.Buffer[T]
			var up *tensor.Matrix[T]
			if t < steps && nd.sendsPrediction() {
				var err error
				if out, err = a.acquire(ctx, a.above[0].UpSend, channels.Prediction, nd.to[0], len(cmd.labels), nd.m.Out(), observed); err != nil {
					return err
				}
				up = view(&a.predOut, out)
			}
			payload := nd.integrate(t, up)
			if out != nil {
				if err := a.sendUp(ctx, out, t+1, payload, observed); err != nil {
					return err
				}
			}
		}
	}
	if observed {
		nd.stats.Wait = a.wait
		nd.stats.Compute = time.Since(start) - a.wait
	}
	return nil
}

// recvPredictions receives the predictions of step t from the parents that send one
// (all of them at t = 0), into held, pays and msgs; the others' say "unchanged".
func (a *nodeActor[T]) recvPredictions(ctx context.Context, t int, observed bool) error {
	nd := a.nd
	for k, lk := range a.below {
		if t > 0 && !nd.parentSends(nd.from[k]) {
			a.pays[k], a.msgs[k] = channels.Unchanged, nil
			continue // held[k] is nil, or the prediction the node keeps
		}
		a.held[k].Buf = nil // handed back after the last error, or a cancelled batch's
		m, err := a.recv(ctx, lk.UpRecv, channels.Prediction, nd.from[k], t, observed)
		if err != nil {
			return err
		}
		a.held[k], a.pays[k], a.msgs[k] = m, m.Payload, view(&a.predIn[k], m.Buf)
	}
	return nil
}

// sendErrors forms the error of step t from the prediction (below: nil when none came)
// and sends it to every parent, the same message on each link, then hands the
// predictions back.
func (a *nodeActor[T]) sendErrors(ctx context.Context, t int, pred channels.Payload, below *tensor.Matrix[T], observed bool) error {
	nd := a.nd
	rows := nd.w.e.Rows
	var payload channels.Payload
	for k, lk := range a.below {
		buf, err := a.acquire(ctx, lk.DownSend, channels.Error, nd.from[k], rows, nd.width, observed)
		if err != nil {
			return err
		}
		if k == 0 {
			payload = nd.formError(t, pred, below, view(&a.errOut, buf))
			for j, m := range a.held {
				if m.Buf != nil && !a.kept {
					a.below[j].UpRecv.Release(m)
					a.held[j].Buf = nil
				}
			}
		} else if payload == channels.Full {
			// The first message is the receiver's now: write this one from e_l again.
			nd.errorMessage(view(&a.errOut, buf))
		}
		if err := a.send(ctx, lk.DownSend, channels.Message[T]{Kind: channels.Error, Step: t, Payload: payload, Buf: buf}, nd.from[k]); err != nil {
			return err
		}
	}
	return nil
}

// recvErrors receives the errors of step t from every child and takes them in (absorb,
// absorbSkip), handing each buffer back at once.
func (a *nodeActor[T]) recvErrors(ctx context.Context, t int, observed bool) error {
	nd := a.nd
	for k, lk := range a.above {
		m, err := a.recv(ctx, lk.DownRecv, channels.Error, nd.to[k], t, observed)
		if err != nil {
			return err
		}
		if k == 0 {
			nd.absorb(t, m.Payload, view(&a.errIn[k], m.Buf))
		} else {
			nd.absorbSkip(k-1, m.Payload, view(&a.errIn[k], m.Buf))
		}
		lk.DownRecv.Release(m)
	}
	return nil
}

// sendUp sends the prediction in buf to the chain child and the node's value x_l to
// every skip child, all of step t and saying p.
func (a *nodeActor[T]) sendUp(ctx context.Context, buf *channels.Buffer[T], t int, p channels.Payload, observed bool) error {
	nd := a.nd
	if err := a.send(ctx, a.above[0].UpSend, channels.Message[T]{Kind: channels.Prediction, Step: t, Payload: p, Buf: buf}, nd.to[0]); err != nil {
		return err
	}
	for k, lk := range a.above[1:] {
		v := nd.point() // x_l, what a skip adds to its target's prediction
		b, err := a.acquire(ctx, lk.UpSend, channels.Prediction, nd.to[k+1], v.Rows, v.Cols, observed)
		if err != nil {
			return err
		}
		if p == channels.Full {
			view(&a.predOut, b).Copy(v)
		}
		if err := a.send(ctx, lk.UpSend, channels.Message[T]{Kind: channels.Prediction, Step: t, Payload: p, Buf: b}, nd.to[k+1]); err != nil {
			return err
		}
	}
	return nil
}

// recv receives the next message and checks that it is the one the protocol expects.
func (a *nodeActor[T]) recv(ctx context.Context, r channels.Receiver[T], kind channels.Kind, peer, step int, observed bool) (channels.Message[T], error) {
	var t0 time.Time
	if observed {
		t0 = time.Now()
	}
	m, err := r.Recv(ctx)
	if observed {
		a.wait += time.Since(t0)
	}
	if err != nil {
		return m, a.waitError(ctx, err, false, kind, peer)
	}
	if m.Kind != kind || m.Step != step {
		return m, fmt.Errorf("protocol error: node %d expected the %s of step %d, got the %s of step %d", a.nd.l, kind, step, m.Kind, m.Step)
	}
	return m, nil
}

// acquire takes a buffer for a message of the kind.
func (a *nodeActor[T]) acquire(ctx context.Context, s channels.Sender[T], kind channels.Kind, peer, rows, cols int, observed bool) (*channels.Buffer[T], error) {
	var t0 time.Time
	if observed {
		t0 = time.Now()
	}
	b, err := s.Acquire(ctx, rows, cols)
	if observed {
		a.wait += time.Since(t0)
	}
	if err != nil {
		return nil, a.waitError(ctx, err, true, kind, peer)
	}
	return b, nil
}

func (a *nodeActor[T]) send(ctx context.Context, s channels.Sender[T], m channels.Message[T], peer int) error {
	if err := s.Send(ctx, m); err != nil {
		return a.waitError(ctx, err, true, m.Kind, peer)
	}
	return nil
}

// waitError is the error of a wait on the neighbour peer, to send (sending) or to receive
// a message of the kind: when the batch was cancelled, one that says what the node was
// waiting for and wraps the cause; else the transport's own.
func (a *nodeActor[T]) waitError(ctx context.Context, err error, sending bool, kind channels.Kind, peer int) error {
	if ctx.Err() == nil {
		return err
	}
	l := a.nd.l
	if sending {
		return fmt.Errorf("pcnet: batch cancelled while node %d waited to send the %v to node %d: %w", l, kind, peer, context.Cause(ctx))
	}
	return fmt.Errorf("pcnet: batch cancelled while node %d waited for the %v from node %d: %w", l, kind, peer, context.Cause(ctx))
}
