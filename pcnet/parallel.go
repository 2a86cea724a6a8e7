package pcnet

import (
	"context"
	"fmt"
	"time"

	"github.com/pcnet/pcnet/actor"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// batchCmd starts one batch on a node actor. Every node gets the whole batch; the input
// node reads x and the output node the labels.
type batchCmd struct {
	x      *mat.Dense
	labels []int
	learn  bool
}

// nodeActor is the goroutine shell around one node core. It owns the node between
// batches; the engine hands it to the actor with a batchCmd and gets it back with the
// actor's report on engine.done, and those two channel operations order every access.
type nodeActor struct {
	nd   *node
	cmds chan batchCmd
	done chan<- error

	below *channels.Link // link l-1: predictions in, errors out (nil for the input node)
	above *channels.Link // link l: predictions out, errors in (nil for the output node)

	// Matrix headers pointed at the message buffers, so no message allocates.
	predIn, predOut, errIn, errOut mat.Dense
	wait                           time.Duration
}

// linkBuffers is the number of message buffers per link direction. One suffices: a node
// hands an error back as soon as it has gated it (absorb) and a prediction as soon as it
// has formed its error, so the sender rarely waits for the buffer. More buffers let a
// node run ahead of its neighbour, which gains nothing when every step needs the
// neighbour's reply, and costs cache: on one core, FPA-PC at H = 8, width 64 spent 3.5%
// more than the sequential engine with 1 buffer, 8% with 2 and 18% with 4
// (BenchmarkEngineOverhead).
const linkBuffers = 1

// engine is the parallel engine over a contiguous range of nodes: one actor per node,
// each linked to its neighbours by the links of a transport. A Network runs all of its
// nodes on one engine over in-process links; a Part runs its own range, and the links
// that leave the range may cross processes. The node cores never learn which.
type engine struct {
	group  *actor.Group
	actors []*nodeActor
	done   chan error // one report per node per batch
	// broken is set when a batch failed: messages may be in flight, so the engine is
	// stopped and cannot be reused.
	broken error
}

// startEngine links the nodes (consecutive, node l at nodes[l-nodes[0].l]) to each other
// and to the nodes just outside their range by tr's links, shaped by the node widths
// n_0..n_{H+1} and maxBatch, and starts one actor per node under ctx.
func startEngine(ctx context.Context, nodes []*node, widths []int, maxBatch int, tr channels.Transport) (*engine, error) {
	// Every node may be inside a product at once; reserve their scratch now so that no
	// update allocates it later.
	layer.Reserve(len(nodes))
	lo, h := nodes[0].l, nodes[0].h
	links := map[int]*channels.Link{}
	for l := max(lo-1, 0); l <= min(nodes[len(nodes)-1].l, h); l++ {
		w := widths[l+1]
		link, err := tr.Link(l, maxBatch, w, maxBatch, w)
		if err != nil {
			return nil, fmt.Errorf("pcnet: link %d-%d: %w", l, l+1, err)
		}
		links[l] = link
	}
	e := &engine{done: make(chan error, len(nodes))}
	actors := make([]actor.Actor, len(nodes))
	for i, nd := range nodes {
		a := &nodeActor{nd: nd, cmds: make(chan batchCmd, 1), done: e.done}
		if nd.l > 0 {
			a.below = links[nd.l-1]
			if a.below.UpRecv == nil || a.below.DownSend == nil {
				return nil, fmt.Errorf("pcnet: the transport's link %d-%d lacks the ends node %d holds (up receiver, down sender)", nd.l-1, nd.l, nd.l)
			}
		}
		if nd.l <= h {
			a.above = links[nd.l]
			if a.above.UpSend == nil || a.above.DownRecv == nil {
				return nil, fmt.Errorf("pcnet: the transport's link %d-%d lacks the ends node %d holds (up sender, down receiver)", nd.l, nd.l+1, nd.l)
			}
		}
		e.actors = append(e.actors, a)
		actors[i] = actor.Actor{Name: fmt.Sprintf("layer %d", nd.l), Run: a.run}
	}
	e.group = actor.Start(ctx, actors...)
	return e, nil
}

// run hands the batch to every actor and waits for all of them. A cancelled ctx or a
// failed actor stops the engine: messages may be in flight, so it cannot be reused.
func (e *engine) run(ctx context.Context, cmd batchCmd) error {
	if e.broken != nil {
		return e.broken
	}
	fail := func(err error) error {
		e.group.Stop()
		if gerr := e.group.Wait(); gerr != nil {
			err = gerr
		}
		e.broken = fmt.Errorf("%w: %w", ErrClosed, err)
		return err
	}
	for _, a := range e.actors {
		select {
		case a.cmds <- cmd:
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-e.group.Done():
			return fail(ErrClosed)
		}
	}
	for range e.actors {
		select {
		case <-e.done:
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-e.group.Done():
			return fail(ErrClosed)
		}
	}
	return nil
}

// stop stops the actors and waits for them.
func (e *engine) stop() error {
	e.group.Stop()
	return e.group.Wait()
}

func (a *nodeActor) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case cmd := <-a.cmds:
			if err := a.batch(ctx, cmd); err != nil {
				return err
			}
			a.done <- nil
		}
	}
}

func view(dst *mat.Dense, b *channels.Buffer) *mat.Dense {
	dst.SetRawMatrix(blas64.General{Rows: b.Rows, Cols: b.Cols, Stride: b.Cols, Data: b.Data[:b.Rows*b.Cols]})
	return dst
}

// batch is one node's part of a batch: the feed-forward pass, then for t = 0..T the
// error for the node below and the step from the error above, exactly as runSequential
// orders them for this node.
func (a *nodeActor) batch(ctx context.Context, cmd batchCmd) error {
	nd := a.nd
	nd.begin(cmd.x, cmd.labels)
	batch := len(cmd.labels)
	observed := nd.obs != nil
	var start time.Time
	if observed {
		start = time.Now()
		a.wait = 0
	}
	T := nd.cfg.Steps

	// Feed-forward: p_l(0) in, p_{l+1}(0) out.
	var pred channels.Message
	var below *mat.Dense
	if a.below != nil {
		m, err := a.recv(ctx, a.below.UpRecv, channels.Prediction, 0, observed)
		if err != nil {
			return err
		}
		pred, below = m, view(&a.predIn, m.Buf)
	}
	if a.above != nil {
		buf, err := a.acquire(ctx, a.above.UpSend, batch, nd.layer.Out(), observed)
		if err != nil {
			return err
		}
		nd.feedForward(below, view(&a.predOut, buf), false)
		if err := a.above.UpSend.Send(ctx, channels.Message{Kind: channels.Prediction, Step: 0, Buf: buf}); err != nil {
			return err
		}
	} else {
		nd.feedForward(below, nil, false)
	}

	for t := 0; t <= T; t++ {
		if a.below != nil {
			if t > 0 {
				below = nil
				if nd.receivesPrediction() {
					m, err := a.recv(ctx, a.below.UpRecv, channels.Prediction, t, observed)
					if err != nil {
						return err
					}
					pred, below = m, view(&a.predIn, m.Buf)
				}
			}
			buf, err := a.acquire(ctx, a.below.DownSend, batch, nd.width, observed)
			if err != nil {
				return err
			}
			payload := nd.formError(t, pred.Payload, below, view(&a.errOut, buf))
			if below != nil {
				a.below.UpRecv.Release(pred)
			}
			if err := a.below.DownSend.Send(ctx, channels.Message{Kind: channels.Error, Step: t, Payload: payload, Buf: buf}); err != nil {
				return err
			}
		}
		if a.above != nil {
			m, err := a.recv(ctx, a.above.DownRecv, channels.Error, t, observed)
			if err != nil {
				return err
			}
			nd.absorb(t, m.Payload, view(&a.errIn, m.Buf))
			a.above.DownRecv.Release(m)
			var out *channels.Buffer
			var up *mat.Dense
			if t < T && nd.sendsPrediction() {
				if out, err = a.acquire(ctx, a.above.UpSend, batch, nd.layer.Out(), observed); err != nil {
					return err
				}
				up = view(&a.predOut, out)
			}
			payload := nd.integrate(t, up)
			if out != nil {
				if err := a.above.UpSend.Send(ctx, channels.Message{Kind: channels.Prediction, Step: t + 1, Payload: payload, Buf: out}); err != nil {
					return err
				}
			}
		}
	}
	if cmd.learn && nd.layer != nil {
		nd.learn()
	}
	if observed {
		nd.stats.Wait = a.wait
		nd.stats.Compute = time.Since(start) - a.wait
		nd.obs.End(nd.stats)
	}
	return nil
}

// recv receives the next message and checks that it is the one the protocol expects.
func (a *nodeActor) recv(ctx context.Context, r channels.Receiver, kind channels.Kind, step int, observed bool) (channels.Message, error) {
	var t0 time.Time
	if observed {
		t0 = time.Now()
	}
	m, err := r.Recv(ctx)
	if observed {
		a.wait += time.Since(t0)
	}
	if err != nil {
		return m, err
	}
	if m.Kind != kind || m.Step != step {
		return m, fmt.Errorf("protocol error: node %d expected the %s of step %d, got the %s of step %d", a.nd.l, kind, step, m.Kind, m.Step)
	}
	return m, nil
}

func (a *nodeActor) acquire(ctx context.Context, s channels.Sender, rows, cols int, observed bool) (*channels.Buffer, error) {
	if !observed {
		return s.Acquire(ctx, rows, cols)
	}
	t0 := time.Now()
	b, err := s.Acquire(ctx, rows, cols)
	a.wait += time.Since(t0)
	return b, err
}
