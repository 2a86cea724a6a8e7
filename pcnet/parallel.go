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
// batches; the Network hands it to the actor with a batchCmd and gets it back with the
// actor's report on Network.done, and those two channel operations order every access.
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

func (n *Network) start(ctx context.Context) error {
	// Every node may be inside a product at once; reserve their scratch now so that no
	// update allocates it later.
	layer.Reserve(len(n.nodes))
	tr := channels.NewInProcess(linkBuffers)
	for l := 0; l <= n.h; l++ {
		w := n.nodes[l+1].width
		link, err := tr.Link(l, n.cfg.MaxBatch, w, n.cfg.MaxBatch, w)
		if err != nil {
			return fmt.Errorf("pcnet: link %d: %w", l, err)
		}
		n.links = append(n.links, link)
	}
	n.done = make(chan error, len(n.nodes))
	actors := make([]actor.Actor, len(n.nodes))
	for l, nd := range n.nodes {
		a := &nodeActor{nd: nd, cmds: make(chan batchCmd, 1), done: n.done}
		if l > 0 {
			a.below = n.links[l-1]
		}
		if l <= n.h {
			a.above = n.links[l]
		}
		n.actors = append(n.actors, a)
		actors[l] = actor.Actor{Name: fmt.Sprintf("layer %d", l), Run: a.run}
	}
	n.group = actor.Start(ctx, actors...)
	return nil
}

// runParallel hands the batch to every actor and waits for all of them. A cancelled ctx
// or a failed actor stops the whole network: messages may be in flight, so it cannot be
// reused.
func (n *Network) runParallel(ctx context.Context, cmd batchCmd) error {
	fail := func(err error) error {
		n.group.Stop()
		if gerr := n.group.Wait(); gerr != nil {
			err = gerr
		}
		n.broken = fmt.Errorf("%w: %w", ErrClosed, err)
		return err
	}
	for _, a := range n.actors {
		select {
		case a.cmds <- cmd:
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-n.group.Done():
			return fail(ErrClosed)
		}
	}
	for range n.actors {
		select {
		case <-n.done:
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-n.group.Done():
			return fail(ErrClosed)
		}
	}
	return nil
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
		nd.feedForward(below, view(&a.predOut, buf))
		if err := a.above.UpSend.Send(ctx, channels.Message{Kind: channels.Prediction, Step: 0, Buf: buf}); err != nil {
			return err
		}
	} else {
		nd.feedForward(below, nil)
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
