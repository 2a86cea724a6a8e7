package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"gonum.org/v1/gonum/mat"
)

// Defaults of the options.
const (
	// DefaultTimeout is how long a peer may stay silent before it counts as gone.
	DefaultTimeout = 5 * time.Second
	// DefaultJoinTimeout is how long a coordinator waits for its workers to say hello,
	// and a worker for its coordinator's setup.
	DefaultJoinTimeout = time.Minute
)

// WorkerOptions configure a worker.
type WorkerOptions struct {
	Conn  *nats.Conn // owned by the caller, closed after Serve returns
	Run   string     // the run's ID, as the coordinator's
	Nodes Range      // the nodes this worker hosts
	Name  string     // names the worker to the coordinator (default: host name)
	// Timeout: a coordinator silent this long (no heartbeat, no command) ends the worker
	// (0: DefaultTimeout). The worker's own heartbeat goes out every Timeout/5.
	Timeout time.Duration
	// JoinTimeout: a worker that has no setup this long after it started ends (0:
	// DefaultJoinTimeout).
	JoinTimeout time.Duration
	// clock measures the deadlines (nil: the wall clock); tests set it.
	clock clock
}

func (o *WorkerOptions) withDefaults() {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.clock == nil {
		o.clock = wallClock{}
	}
}

// worker is one Serve: the part it hosts and its transport, once set up.
type worker struct {
	o    WorkerOptions
	out  *sender
	part *pcnet.Part
	tr   *natslink.Transport
	xs   map[int]*mat.Dense // node 0's batch by batch size
	// joined is set once the part is built: the watchdog then expects the coordinator's
	// heartbeat rather than its setup.
	joined atomic.Bool
}

// Serve runs a worker until the coordinator stops it (nil), ctx is done, the
// coordinator falls silent for Timeout, the connection is lost or the part fails (an
// error naming the worker and why). Every goroutine it starts has stopped when it
// returns.
func Serve(ctx context.Context, o WorkerOptions) error {
	o.withDefaults()
	if err := natslink.CheckRun(o.Run, maxRun); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if o.Nodes.Lo < 0 || o.Nodes.Hi < o.Nodes.Lo {
		return fmt.Errorf("cluster: worker: node range %v is empty or negative", o.Nodes)
	}
	if o.Timeout < 0 || o.JoinTimeout < 0 {
		return errors.New("cluster: worker: negative timeout")
	}
	w := &worker{o: o, out: newSender(o.Conn, o.Run), xs: map[int]*mat.Dense{}}
	err := w.serve(ctx)
	if err != nil {
		err = fmt.Errorf("cluster: worker of %v, run %s: %w", o.Nodes, o.Run, err)
	}
	return err
}

func (w *worker) serve(ctx context.Context) (err error) {
	o := w.o
	nc := o.Conn
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)

	cmds := make(chan delivery, 4)
	sub, err := subscribeMessages(nc, o.Run, o.Nodes.Lo, cmdSubject(o.Run, o.Nodes.Lo), 0, cmds, done)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	heard := newLastWord(o.clock)
	heard.touch()
	bsub, err := subscribeBeats(nc, coordinatorBeatSubject(o.Run), heard)
	if err != nil {
		return err
	}
	defer func() { _ = bsub.Unsubscribe() }()
	lost, stopWatch := connLost(nc)
	defer stopWatch()
	defer w.close()

	wg.Go(func() { beat(nc, beatSubject(o.Run, o.Nodes.Lo), o.Timeout/5, done) })

	// The part's goroutines live under partCtx; the watchdog cancels it when the
	// coordinator falls silent, so that a batch waiting on a dead neighbour ends.
	partCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wg.Go(func() { w.watchdog(heard, lost, cancel, done) })

	hello := &message{Kind: kindHello, Lo: o.Nodes.Lo, Hi: o.Nodes.Hi, Host: o.Name, PID: os.Getpid()}
	helloTick := time.NewTicker(250 * time.Millisecond)
	defer helloTick.Stop()
	if err := w.out.send(reportSubject(o.Run, o.Nodes.Lo), o.Nodes.Lo, hello); err != nil {
		return err
	}
	for {
		var d delivery
		select {
		case <-partCtx.Done():
			return context.Cause(partCtx)
		case <-helloTick.C:
			if w.part == nil {
				if err := w.out.send(reportSubject(o.Run, o.Nodes.Lo), o.Nodes.Lo, hello); err != nil {
					return err
				}
			}
			continue
		case d = <-cmds:
		}
		heard.touch()
		if d.err != nil {
			return w.fail(d.err)
		}
		m := d.m
		var reply *message
		switch m.Kind {
		case kindSetup:
			w.close() // a new network (compare runs one per variant)
			if err := w.setup(partCtx, m); err != nil {
				return w.fail(err)
			}
			w.joined.Store(true)
			reply = &message{Kind: kindReady, Seq: m.Seq}
		case kindBatch:
			if w.part == nil {
				return w.fail(errors.New("a batch before the setup"))
			}
			r, stopped, err := w.batchOrStop(partCtx, cancel, m, cmds)
			if stopped {
				return nil
			}
			if err != nil {
				if !nc.IsConnected() {
					// The links broke with the connection: the watchdog is about to
					// say so; its one line names the cause, the link's would not.
					select {
					case <-partCtx.Done():
					case <-time.After(o.Timeout):
					}
				}
				if cause := context.Cause(partCtx); cause != nil {
					return cause
				}
				return w.fail(err)
			}
			reply = r
		case kindFetch:
			if w.part == nil {
				return w.fail(errors.New("a fetch before the setup"))
			}
			reply = w.state(m.Seq, m.Updates)
		case kindStop:
			return nil
		default:
			return w.fail(fmt.Errorf("unexpected %v message from the coordinator", m.Kind))
		}
		if err := w.out.send(reportSubject(o.Run, o.Nodes.Lo), o.Nodes.Lo, reply); err != nil {
			return err
		}
	}
}

// watchdog cancels the part's context, with the cause, when the connection is lost, when
// no coordinator has set the worker up within JoinTimeout, or when the coordinator,
// last heard from at heard, is silent beyond Timeout; it returns then or when done is
// closed. It checks every tenth of the timeout, so that a silence is found within 1.1 x
// Timeout.
func (w *worker) watchdog(heard *lastWord, lost <-chan string, cancel context.CancelCauseFunc, done <-chan struct{}) {
	o := w.o
	tick, stop := o.clock.NewTicker(o.Timeout / 10)
	defer stop()
	start := o.clock.Now()
	for {
		select {
		case <-done:
			return
		case msg := <-lost:
			cancel(errors.New(msg))
			return
		case now := <-tick:
			if !w.joined.Load() {
				if now.Sub(start) > o.JoinTimeout {
					cancel(fmt.Errorf("no setup from a coordinator within %v", o.JoinTimeout))
					return
				}
				continue
			}
			if d, gone := heard.silent(now, o.Timeout); gone {
				cancel(fmt.Errorf("no word from the coordinator for %v (timeout %v); it is gone, exiting", d.Round(time.Millisecond), o.Timeout))
				return
			}
		}
	}
}

// fail tells the coordinator why the worker stops, and returns err.
func (w *worker) fail(err error) error {
	_ = w.out.send(reportSubject(w.o.Run, w.o.Nodes.Lo), w.o.Nodes.Lo, &message{Kind: kindFailed, Lo: w.o.Nodes.Lo, Hi: w.o.Nodes.Hi, Err: err.Error()})
	return err
}

func (w *worker) close() {
	if w.part != nil {
		_ = w.part.Close()
	}
	if w.tr != nil {
		_ = w.tr.Close()
	}
	w.part, w.tr = nil, nil
}

// setup builds the part from the coordinator's description and theta.
func (w *worker) setup(ctx context.Context, m *message) error {
	n := m.Net
	h := n.Hidden()
	lo, hi := w.o.Nodes.Lo, w.o.Nodes.Hi
	if h < 1 || hi > h+1 {
		return fmt.Errorf("setup: a network of %d nodes has no %v", len(n.Sizes), w.o.Nodes)
	}
	want := max(min(hi, h)-lo+1, 0)
	if len(m.Layers) != want {
		return fmt.Errorf("setup: %d layers for %d hosted weight layers", len(m.Layers), want)
	}
	if !n.Algorithm.IsPC() {
		return fmt.Errorf("setup: algorithm %v: workers run the PC variants", n.Algorithm)
	}
	// pcnet.NewPart validates the configuration.
	cfg := n.PCConfig(nil)
	var layers []*layer.Dense
	for i := range m.Layers {
		l := lo + i
		act := n.Activation
		if l == h {
			act = layer.Identity
		}
		d, err := layer.NewDense(n.Sizes[l], n.Sizes[l+1], act)
		if err != nil {
			return fmt.Errorf("setup: layer %d: %w", l, err)
		}
		if err := restoreLayer(d, [2]*optim.State{}, m.Layers[i], l); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		layers = append(layers, d)
	}
	if err := natslink.CheckRun(m.LinkRun, 64); err != nil {
		return fmt.Errorf("setup: links: cluster: %w", err)
	}
	var err error
	w.tr, err = natslink.New(w.o.Conn, natslink.Options{Run: m.LinkRun, Lo: lo, Hi: hi, Delay: m.Delay})
	if err != nil {
		return err
	}
	w.part, err = pcnet.NewPart(ctx, pcnet.PartSpec{Widths: n.Sizes, Lo: lo, Hi: hi, Layers: layers, Config: cfg, Transport: w.tr, Observe: m.Observe})
	if err != nil {
		return err
	}
	for i, d := range layers {
		opt, err := w.part.Optimizers(lo + i)
		if err != nil {
			return err
		}
		if err := restoreLayer(d, opt, m.Layers[i], lo+i); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

// errStopped ends a batch that the coordinator stopped (it failed elsewhere).
var errStopped = errors.New("stopped by the coordinator")

// batchOrStop runs one batch while watching the commands: a stop (the coordinator gave up
// on the run, say because another worker is gone) cancels the batch, which may be
// waiting on a neighbour that will never answer, and ends the worker cleanly.
func (w *worker) batchOrStop(ctx context.Context, cancel context.CancelCauseFunc, m *message, cmds <-chan delivery) (*message, bool, error) {
	type result struct {
		r   *message
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := w.batch(ctx, m)
		done <- result{r, err}
	}()
	for {
		select {
		case res := <-done:
			return res.r, false, res.err
		case d := <-cmds:
			if d.err == nil && d.m.Kind == kindStop {
				cancel(errStopped)
				<-done
				return nil, true, nil
			}
			cancel(fmt.Errorf("a command during batch %d: %v", m.Seq, describe(d)))
			<-done
			return nil, false, context.Cause(ctx)
		}
	}
}

func describe(d delivery) string {
	if d.err != nil {
		return d.err.Error()
	}
	return d.m.Kind.String()
}

// batch runs one batch and makes its report.
func (w *worker) batch(ctx context.Context, m *message) (*message, error) {
	b := pcnet.PartBatch{Rows: m.Rows, Labels: m.Labels, Learn: m.Learn}
	if m.X != nil {
		if m.Rows < 1 || len(m.X)%(8*m.Rows) != 0 {
			return nil, fmt.Errorf("batch %d: %d bytes do not make %d rows", m.Seq, len(m.X), m.Rows)
		}
		cols := len(m.X) / (8 * m.Rows)
		x := w.xs[m.Rows]
		if x == nil || x.RawMatrix().Cols != cols {
			x = mat.NewDense(m.Rows, cols, nil)
			w.xs[m.Rows] = x
		}
		if err := floatsInto(x.RawMatrix().Data, m.X, fmt.Sprintf("batch %d", m.Seq)); err != nil {
			return nil, err
		}
		b.X = x
	}
	rep, err := w.part.Run(ctx, b)
	if err != nil {
		return nil, err
	}
	r := &message{Kind: kindReport, Seq: m.Seq, Loss: math.Float64bits(rep.Loss), Nodes: toNodeReports(rep.Nodes), Links: w.tr.TakeTraffic()}
	if rep.Fault != nil {
		r.Fault, r.NonFinite = rep.Fault.Error(), errors.Is(rep.Fault, pcnet.ErrNonFinite)
	}
	return r, nil
}

// state captures the hosted layers and their optimiser states, or the last batch's
// updates.
func (w *worker) state(seq uint64, updates bool) *message {
	r := &message{Kind: kindState, Seq: seq}
	lo, _ := w.part.Range()
	if updates {
		for _, g := range w.part.Updates() {
			p := g.Params()
			r.Layers = append(r.Layers, layerState{W: floatBytes(p[0]), B: floatBytes(p[1])})
		}
		return r
	}
	for i, d := range w.part.Layers() {
		opt, _ := w.part.Optimizers(lo + i)
		r.Layers = append(r.Layers, captureLayer(d, opt))
	}
	return r
}

// maxRun bounds a run ID: the links' subjects add a setup number to it, within
// natslink's 64 characters.
const maxRun = 44
