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
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
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
	Key   []byte     // the run key, as the coordinator's (KeySize bytes)
	Nodes Range      // the nodes this worker hosts
	Name  string     // names the worker to the coordinator (default: host name)
	// Timeout: a coordinator silent this long (no heartbeat, no command) ends the worker
	// (0: DefaultTimeout). The worker's own heartbeat goes out every Timeout/5.
	Timeout time.Duration
	// JoinTimeout: a worker that has no setup this long after it started ends (0:
	// DefaultJoinTimeout).
	JoinTimeout time.Duration
	// MaxSetup bounds a command until the first setup has told the worker the network's
	// shape (0: DefaultMaxSetup); from then on the shape bounds them.
	MaxSetup int64
	// clock measures the deadlines (nil: the wall clock); tests set it.
	clock clock
}

func (o *WorkerOptions) withDefaults() {
	if o.MaxSetup == 0 {
		o.MaxSetup = DefaultMaxSetup
	}
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

// worker is one Serve: the part it hosts, once set up.
type worker struct {
	o    WorkerOptions
	out  *sender
	part hosted     // nil before the setup
	net  *spec.Run  // the last setup's network
	rej  rejections // the messages dropped since the last report
	// linkRejects counts the links' dropped frames, one count across setups (w.rej's).
	linkRejects *natslink.Rejects
	// coord is the coordinator that set the worker up (zero before): the commands of any
	// other are dropped. limit bounds a command: MaxSetup, then what the setup implies.
	coord atomic.Pointer[coordID]
	limit atomic.Int64
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
	if o.Timeout < 0 || o.JoinTimeout < 0 || o.MaxSetup < 0 {
		return errors.New("cluster: worker: negative timeout or max setup")
	}
	if err := checkKey(o.Key); err != nil {
		return err
	}
	w := &worker{o: o, out: newSender(o.Conn, o.Run, o.Key)}
	w.linkRejects = w.rej.counter("")
	w.limit.Store(o.MaxSetup)
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
	in := inbox{run: o.Run, lo: o.Nodes.Lo, key: o.Key, subject: cmdSubject(o.Run, o.Nodes.Lo), rej: &w.rej, kind: rejCommand,
		limit: w.limit.Load, bound: w.bound}
	sub, err := subscribeMessages(nc, in, cmds, done, &wg)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	heard := newLastWord(o.clock)
	heard.touch()
	bsub, err := subscribeBeats(nc, o.Key, coordinatorBeatSubject(o.Run), heard, &w.rej)
	if err != nil {
		return err
	}
	defer func() { _ = bsub.Unsubscribe() }()
	lost, stopWatch := connLost(nc)
	defer stopWatch()
	defer w.close()

	wg.Go(func() { beat(nc, o.Key, beatSubject(o.Run, o.Nodes.Lo), o.Timeout/5, done) })

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
		if d.err != nil {
			return w.fail(d.err)
		}
		m := d.m
		if w.foreign(m) {
			continue
		}
		heard.touch()
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
			r, end, err := w.runBatch(partCtx, cancel, m, cmds)
			if end {
				return err
			}
			reply = r
		case kindFetch:
			if w.part == nil {
				return w.fail(errors.New("a fetch before the setup"))
			}
			reply = w.state(m.Seq, m.Updates)
		case kindStop:
			if w.part == nil {
				// The coordinator gave up before it set this worker up (another worker
				// did not join): the run did not happen here.
				return fmt.Errorf("%w before it set this worker up", errStopped)
			}
			return nil
		default:
			return w.fail(fmt.Errorf("unexpected %v message from the coordinator", m.Kind))
		}
		if err := w.out.send(reportSubject(o.Run, o.Nodes.Lo), o.Nodes.Lo, reply); err != nil {
			return err
		}
	}
}

// runBatch runs batch m (batchOrStop) and says whether the worker ends, with what.
func (w *worker) runBatch(ctx context.Context, cancel context.CancelCauseFunc, m *message, cmds <-chan delivery) (*message, bool, error) {
	r, err := w.batchOrStop(ctx, cancel, m, cmds)
	var rep errReported
	switch {
	case err == nil:
		return r, false, nil
	case errors.Is(err, errStopped):
		// Its coordinator gave up on the run (another worker is gone) and says why:
		// this worker did what it was told.
		return nil, true, nil
	case errors.As(err, &rep):
		return nil, true, err
	}
	if !w.o.Conn.IsConnected() {
		// The links broke with the connection: the watchdog is about to say so; its one
		// line names the cause, the link's would not.
		select {
		case <-ctx.Done():
		case <-time.After(w.o.Timeout):
		}
	}
	if cause := context.Cause(ctx); cause != nil {
		return nil, true, cause
	}
	return nil, true, w.fail(err)
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
				if err := o.Conn.FlushTimeout(max(o.Timeout/2, 10*time.Millisecond)); err != nil {
					cancel(fmt.Errorf("the NATS server %s does not answer (%v): the coordinator is silent because it is; exiting", o.Conn.ConnectedUrlRedacted(), err))
					return
				}
				cancel(fmt.Errorf("no word from the coordinator for %v (timeout %v); it is gone, exiting", d.Round(time.Millisecond), o.Timeout))
				return
			}
		}
	}
}

// bound returns the coordinator that set the worker up, zero before.
func (w *worker) bound() coordID {
	if id := w.coord.Load(); id != nil {
		return *id
	}
	return coordID{}
}

// foreign reports (and counts) a command that is not from the coordinator the worker
// takes commands from: the one that set it up, or before that the first that sends a
// setup. A stop before any setup is taken from any coordinator: it ends the worker.
func (w *worker) foreign(m *message) bool {
	b := w.bound()
	switch {
	case m.From.isZero():
		w.rej.add(rejCommand, reasonMalformed)
		return true
	case b.isZero() && m.Kind == kindSetup:
		id := m.From
		w.coord.Store(&id)
		return false
	case b.isZero() || m.From == b:
		return false
	}
	w.rej.add(rejCommand, reasonForeign)
	return true
}

// fail tells the coordinator why the worker stops, and returns err.
func (w *worker) fail(err error) error {
	_ = w.out.send(reportSubject(w.o.Run, w.o.Nodes.Lo), w.o.Nodes.Lo, &message{Kind: kindFailed, Lo: w.o.Nodes.Lo, Hi: w.o.Nodes.Hi, Err: err.Error()})
	return err
}

func (w *worker) close() {
	if w.part != nil {
		w.part.close()
	}
	w.part = nil
}

// setup builds the part from the coordinator's description and theta, in the setup's
// precision.
func (w *worker) setup(ctx context.Context, m *message) error {
	n := m.Net
	// Every size first, before anything is allocated by them.
	if err := checkSetup(m, w.o.Nodes); err != nil {
		return fmt.Errorf("setup refused: %w", err)
	}
	if !n.Algorithm.IsPC() {
		return fmt.Errorf("setup: algorithm %v: workers run the PC variants", n.Algorithm)
	}
	if m.LinkSetup < 1 {
		return fmt.Errorf("setup: links: setup number %d; need >= 1", m.LinkSetup)
	}
	var err error
	// The one place a worker's precision becomes a type: the coordinator's, which
	// checkSetup has found to be F32 or F64.
	if n.Precision == spec.F32 {
		w.part, err = newHostedPart[float32](ctx, w, m)
	} else {
		w.part, err = newHostedPart[float64](ctx, w, m)
	}
	if err != nil {
		return err
	}
	w.net = &n
	// From now on a command is at most a setup of this shape or a batch of it.
	size := sizeOf(n.Precision)
	w.limit.Store(smallMessage + max(stateBytes(n.Sizes, w.o.Nodes.Lo, w.o.Nodes.Hi, n.Optimizer, size, n.Dense()), batchBytes(n.Batch, n.Sizes[0], size)))
	return nil
}

// hosted is the part a worker hosts, in its setup's precision: Serve learns the
// precision from the coordinator, not from its flags, so it holds the part through
// this interface and no code of its own is generic.
type hosted interface {
	// batch runs one checked batch and makes its report (without the rejections,
	// which are the worker's).
	batch(ctx context.Context, m *message) (*message, error)
	// state captures the hosted layers and their optimiser states, or the last
	// batch's updates.
	state(seq uint64, updates bool) *message
	close()
}

// hostedPart is a pcnet.Part[T] with its transport, and node 0's batch matrices.
type hostedPart[T tensor.Float] struct {
	part *pcnet.Part[T]
	tr   *natslink.Transport[T]
	xs   map[int]*tensor.Matrix[T] // node 0's batch by batch size
	cols int                       // n_0
}

// newHostedPart builds the part of setup m (checked by checkSetup) for w in precision T:
// the maps of its nodes alone, on the setup's layer graph (docs/design.md §11).
func newHostedPart[T tensor.Float](ctx context.Context, w *worker, m *message) (_ hosted, err error) {
	n := m.Net
	lo, hi := w.o.Nodes.Lo, w.o.Nodes.Hi
	g, err := setupGraph(&n)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	// pcnet.NewPart validates the configuration.
	cfg := n.PCConfig(nil)
	maps, err := mapsOf[T](&n, g, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	for i, d := range maps {
		if err := restoreLayer(d, [2]*optim.State[T]{}, m.Layers[i], lo+i); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
	}
	p := &hostedPart[T]{xs: map[int]*tensor.Matrix[T]{}, cols: n.Sizes[0]}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	p.tr, err = natslink.New[T](w.o.Conn, natslink.Options{Run: w.o.Run, Setup: m.LinkSetup, Lo: lo, Hi: hi, Delay: m.Delay, Key: w.o.Key, Rejects: w.linkRejects})
	if err != nil {
		return nil, err
	}
	p.part, err = pcnet.NewPart(ctx, pcnet.PartSpec[T]{Graph: g, Lo: lo, Hi: hi, Maps: maps, Config: cfg, Transport: p.tr, Observe: m.Observe})
	if err != nil {
		return nil, err
	}
	for i, d := range maps {
		opt, err := p.part.Optimizers(lo + i)
		if err != nil {
			return nil, err
		}
		if err := restoreLayer(d, opt, m.Layers[i], lo+i); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
	}
	return p, nil
}

func (p *hostedPart[T]) close() {
	if p.part != nil {
		_ = p.part.Close()
	}
	if p.tr != nil {
		_ = p.tr.Close()
	}
	p.part, p.tr = nil, nil
}

// errStopped ends a batch that the coordinator stopped (it failed elsewhere).
var errStopped = errors.New("stopped by the coordinator")

// batchOrStop runs one batch while watching the commands: a stop (the coordinator gave up
// on the run, say because another worker is gone) cancels the batch, which may be
// waiting on a neighbour that will never answer, and ends the batch with errStopped;
// any other command of its coordinator is reported to it at once and ends the worker.
// Another coordinator's commands are dropped.
func (w *worker) batchOrStop(ctx context.Context, cancel context.CancelCauseFunc, m *message, cmds <-chan delivery) (*message, error) {
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
			return res.r, res.err
		case d := <-cmds:
			if d.err == nil && w.foreign(d.m) {
				continue
			}
			if d.err == nil && d.m.Kind == kindStop {
				err := fmt.Errorf("%w during batch %d", errStopped, m.Seq)
				cancel(err)
				<-done
				return nil, err
			}
			// Reported before the batch is cancelled, so that the coordinator hears the
			// cause at once rather than the silence that follows.
			err := w.fail(fmt.Errorf("a command during batch %d: %v", m.Seq, describe(d)))
			cancel(err)
			<-done
			return nil, errReported{err}
		}
	}
}

// errReported is an error the worker has already told the coordinator.
type errReported struct{ error }

func (e errReported) Unwrap() error { return e.error }

func describe(d delivery) string {
	if d.err != nil {
		return d.err.Error()
	}
	return d.m.Kind.String()
}

// batch runs one batch and makes its report.
func (w *worker) batch(ctx context.Context, m *message) (*message, error) {
	if err := checkBatch(m, w.net, w.o.Nodes); err != nil {
		return nil, err
	}
	r, err := w.part.batch(ctx, m)
	if err != nil {
		return nil, err
	}
	r.Rejected = w.rej.take()
	return r, nil
}

func (p *hostedPart[T]) batch(ctx context.Context, m *message) (*message, error) {
	b := pcnet.PartBatch[T]{Rows: m.Rows, Labels: m.Labels, Learn: m.Learn}
	if m.X != nil {
		x := p.xs[m.Rows]
		if x == nil {
			x = tensor.New[T](m.Rows, p.cols, nil)
			p.xs[m.Rows] = x
		}
		if err := floatsInto(x.Data, m.X, fmt.Sprintf("batch %d", m.Seq)); err != nil {
			return nil, err
		}
		b.X = x
	}
	rep, err := p.part.Run(ctx, b)
	if err != nil {
		return nil, err
	}
	r := &message{Kind: kindReport, Seq: m.Seq, Loss: math.Float64bits(rep.Loss), Nodes: toNodeReports(rep.Nodes), Links: p.tr.TakeTraffic()}
	if rep.Fault != nil {
		r.Fault, r.FaultNode, r.NonFinite = rep.Fault.Error(), rep.FaultNode, errors.Is(rep.Fault, pcnet.ErrNonFinite)
	}
	return r, nil
}

func (w *worker) state(seq uint64, updates bool) *message { return w.part.state(seq, updates) }

func (p *hostedPart[T]) state(seq uint64, updates bool) *message {
	r := &message{Kind: kindState, Seq: seq}
	lo, _ := p.part.Range()
	if updates {
		for _, g := range p.part.Updates() {
			gp := g.Params()
			r.Layers = append(r.Layers, layerState{W: floatBytes(gp[0]), B: floatBytes(gp[1])})
		}
		return r
	}
	for i, d := range p.part.Maps() {
		opt, _ := p.part.Optimizers(lo + i)
		r.Layers = append(r.Layers, captureLayer(d, opt))
	}
	return r
}

// maxRun bounds a run ID, below natslink's 64 characters: the limit the command has
// always documented (the links' subjects no longer add to the ID, docs/design.md §9).
const maxRun = 44
