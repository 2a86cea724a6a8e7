package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// Options configure a Coordinator.
type Options struct {
	Conn *nats.Conn // owned by the caller, closed after Close
	Run  string     // the run's ID: scopes every subject
	// Key is the run key (KeySize bytes, NewKey or LoadKey) that the run's workers hold:
	// it authenticates the heartbeats here and every frame in natslink.
	Key     []byte
	Workers []Range // the node range of every worker, covering 0..H+1 in order
	// Timeout: a worker silent this long (no heartbeat) stops the run (0: DefaultTimeout).
	// The coordinator's heartbeat goes out every Timeout/5.
	Timeout time.Duration
	// JoinTimeout bounds the wait for every worker's hello (0: DefaultJoinTimeout).
	JoinTimeout time.Duration
	// Delay is added to every hop between the workers' nodes (natslink.Options.Delay),
	// for tests and benchmarks of latency: times change, the numbers do not.
	Delay time.Duration
	// clock measures the heartbeat deadline (nil: the wall clock); tests set it.
	clock clock
	// Traffic, if set, receives the traffic of every link direction between two workers
	// since the last batch (messages, bytes, bytes on the wire, latencies; as its
	// receiving worker counted it), after each batch, from the goroutine calling Step or
	// Infer; an error stops the run. metrics.Metrics.AddLinkTraffic exposes it.
	Traffic func(channels.Traffic) error
	// Rejected, if set, receives after each batch the counts of the messages dropped
	// since the last (forged, replayed, malformed, a foreign coordinator's), by the
	// coordinator and by every worker; metrics.Metrics.AddRejected exposes them.
	Rejected func(Rejected)
	// Log, if set, receives one warning line per kind of message the run rejects, the
	// first time it does.
	Log io.Writer
	// BatchTimeout bounds a batch however often the workers beat (0: ten Timeouts, at
	// least a minute).
	BatchTimeout time.Duration

	// exits receives the end of each worker process that Start started here (nil for
	// workers started elsewhere): a worker that dies is named at once, not after the
	// join timeout or the heartbeat timeout.
	exits <-chan *procExit
}

// WorkerInfo names a worker that joined.
type WorkerInfo struct {
	Nodes Range
	Host  string
	PID   int
}

func (w WorkerInfo) String() string {
	return fmt.Sprintf("the worker of %v (pid %d on %s)", w.Nodes, w.PID, w.Host)
}

// Coordinator runs a network whose nodes live in workers, in precision T (float32 or
// float64): it owns the data and the loss, hands every batch to the workers, gathers
// their reports (replaying the nodes' statistics into Config.Observer), and keeps a copy
// of theta and the optimiser states that Sync brings up to date for checkpoints and
// evaluation. Its setups tell the workers T (spec.Run.Precision), and every value it
// sends or receives is a T on the wire. It implements train.Learner[T]. Its methods must
// not be called concurrently.
type Coordinator[T tensor.Float] struct {
	o       Options
	cfg     pcnet.Config
	h       int
	widths  []int
	act     layer.Activation
	param   layer.Param
	g       *graph.Graph      // the network's layer graph (docs/design.md §11)
	maps    []layer.Map[T]    // theta, one map per node 0..H
	layers  []*layer.Dense[T] // the maps as dense layers when every one is (else nil)
	opt     [][2]*optim.State[T]
	nodeObs []pcnet.NodeObserver

	id      coordID // from its claim: every command carries it
	claim   *claim
	rej     rejections // the messages the coordinator dropped since the last batch
	warned  map[string]bool
	out     *sender
	url     string // the server's, for errors
	in      chan delivery
	heard   []*lastWord
	workers []WorkerInfo
	subs    []*nats.Subscription
	lost    <-chan string
	unwatch func()
	done    chan struct{}
	wg      sync.WaitGroup

	shape sync.Mutex // guards cfg and widths, which the subscriptions read

	seq    uint64
	setUp  bool
	stale  bool // the workers' theta moved since the last Sync
	broken error
	closed bool
}

// NewCoordinator starts the coordinator of a run on layers (the network's initial theta,
// used as its copy) with cfg, and waits until every worker has said hello. The workers
// are set up (theta and the optimiser states, which the caller may restore first through
// Optimizers) at the first Step. It is NewGraphCoordinator on the chain of the layers.
func NewCoordinator[T tensor.Float](ctx context.Context, o Options, layers []*layer.Dense[T], cfg pcnet.Config) (*Coordinator[T], error) {
	g, err := chainOf(layers)
	if err != nil {
		return nil, err
	}
	return NewGraphCoordinator(ctx, o, g, layer.AsMaps(layers), cfg)
}

// chainOf is the chain graph of layers.
func chainOf[T tensor.Float](layers []*layer.Dense[T]) (*graph.Graph, error) {
	if len(layers) < 2 {
		return nil, fmt.Errorf("cluster: %d layers make H = %d; need H >= 1", len(layers), len(layers)-1)
	}
	widths := []int{layers[0].In()}
	for _, d := range layers {
		widths = append(widths, d.Out())
	}
	g, err := graph.New(widths, graph.Chain, nil)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return g, nil
}

// NewGraphCoordinator starts the coordinator of a run on the layer graph g (docs/design.md
// §11) with maps (one per node 0..H, the network's initial theta, used as its copy), as
// NewCoordinator does. The maps must be what a worker builds from the run's shape: dense
// layers on a chain (long skips or not), or the pre-activation maps of layer.PreActNet
// under either parameterisation. The workers' ranges split g's nodes; a long skip whose
// ends two workers host is a link between them like any chain link.
func NewGraphCoordinator[T tensor.Float](ctx context.Context, o Options, g *graph.Graph, maps []layer.Map[T], cfg pcnet.Config) (*Coordinator[T], error) {
	if err := natslink.CheckRun(o.Run, maxRun); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.Timeout < 0 || o.JoinTimeout < 0 || o.Delay < 0 || o.BatchTimeout < 0 {
		return nil, errors.New("cluster: negative timeout or delay")
	}
	if err := checkKey(o.Key); err != nil {
		return nil, err
	}
	if o.BatchTimeout == 0 {
		o.BatchTimeout = batchDeadlineOf(o.Timeout)
	}
	if o.clock == nil {
		o.clock = wallClock{}
	}
	c := &Coordinator[T]{o: o, out: newSender(o.Conn, o.Run, o.Key), url: o.Conn.ConnectedUrlRedacted(), done: make(chan struct{}), warned: map[string]bool{}}
	if err := c.ConfigureGraph(g, maps, cfg); err != nil {
		return nil, err
	}
	if _, err := rand.Read(c.id[:]); err != nil {
		return nil, err
	}
	c.out.from = c.id
	// The claim comes before anything else: a second coordinator of the run stops here,
	// having sent nothing to the first one's workers (Close sends them nothing either).
	host, _ := os.Hostname()
	claim, err := claimRun(ctx, o.Conn, o.Run, claimMsg{ID: c.id, PID: os.Getpid(), Host: host}, claimWaits{answer: o.Timeout, window: claimWindowOf(o.Timeout)}, &c.rej)
	if err != nil {
		c.closed = true
		return nil, err
	}
	c.claim = claim
	if err := c.subscribe(); err != nil {
		c.Close()
		return nil, err
	}
	c.wg.Go(func() { beat(o.Conn, o.Key, coordinatorBeatSubject(o.Run), o.Timeout/5, c.done) })
	if err := c.join(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// subscribe subscribes to every worker's reports and heartbeats.
func (c *Coordinator[T]) subscribe() error {
	o := c.o
	c.in = make(chan delivery, len(o.Workers))
	c.lost, c.unwatch = connLost(o.Conn)
	for i, r := range o.Workers {
		c.workers = append(c.workers, WorkerInfo{Nodes: r})
		c.heard = append(c.heard, newLastWord(o.clock))
		in := inbox{run: o.Run, lo: r.Lo, key: o.Key, subject: reportSubject(o.Run, r.Lo), from: i, rej: &c.rej, kind: rejReport,
			limit: func() int64 { return c.reportLimit(r) }}
		sub, err := subscribeMessages(o.Conn, in, c.in, c.done, &c.wg)
		if err != nil {
			return err
		}
		c.subs = append(c.subs, sub)
		if sub, err = subscribeBeats(o.Conn, o.Key, beatSubject(o.Run, r.Lo), c.heard[i], &c.rej); err != nil {
			return err
		}
		c.subs = append(c.subs, sub)
	}
	return nil
}

// reportLimit bounds a message from the worker of r: its layers' theta and optimiser
// states (a state), and a report's statistics (per node and step) and links.
func (c *Coordinator[T]) reportLimit(r Range) int64 {
	c.shape.Lock()
	defer c.shape.Unlock()
	nodes := int64(r.Hi - r.Lo + 1)
	return stateBytes(c.widths, r.Lo, r.Hi, c.cfg.Optimizer, elemSize[T](), c.layers != nil) + smallMessage + nodes*int64(c.cfg.Steps+1)*256
}

// Configure sets the network the workers run from the next batch on: layers (theta, used
// as the coordinator's copy) and cfg; the workers are set up again with them (and the
// optimiser states, fresh ones that the caller may restore through Optimizers) at the
// next Step or Infer. The node ranges stay, and so must the shape's size: a worker
// bounds its commands by its first setup, so a larger network's setup is refused. It is
// ConfigureGraph on the chain of the layers.
func (c *Coordinator[T]) Configure(layers []*layer.Dense[T], cfg pcnet.Config) error {
	if c.broken != nil {
		return c.broken
	}
	g, err := chainOf(layers)
	if err != nil {
		return err
	}
	return c.ConfigureGraph(g, layer.AsMaps(layers), cfg)
}

// ConfigureGraph is Configure on the layer graph g with maps (see NewGraphCoordinator).
func (c *Coordinator[T]) ConfigureGraph(g *graph.Graph, maps []layer.Map[T], cfg pcnet.Config) error {
	if c.broken != nil {
		return c.broken
	}
	if g == nil {
		return errors.New("cluster: no layer graph")
	}
	h := g.H()
	if err := checkRanges(c.o.Workers, h+2); err != nil {
		return err
	}
	if cfg.Engine == pcnet.Sequential {
		return errors.New("cluster: workers run the parallel engine, not the sequential one")
	}
	act, param, err := describeNet(g, maps)
	if err != nil {
		return err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 64
	}
	c.shape.Lock() // the report subscriptions' limits read them
	c.cfg, c.h, c.g, c.maps, c.layers, c.act, c.param, c.widths = cfg, h, g, maps, layer.AsDense(maps), act, param, g.Widths()
	c.shape.Unlock()
	c.opt, c.nodeObs = nil, nil
	for _, m := range maps {
		var st [2]*optim.State[T]
		if cfg.Optimizer.Kind != 0 {
			p := m.Params()
			st = [2]*optim.State[T]{optim.NewState[T](cfg.Optimizer, len(p[0])), optim.NewState[T](cfg.Optimizer, len(p[1]))}
		}
		c.opt = append(c.opt, st)
	}
	if cfg.Observer != nil {
		for l := 0; l <= h+1; l++ {
			c.nodeObs = append(c.nodeObs, cfg.Observer.Node(cfg.GraphNodeInfo(g, l)))
		}
	}
	c.setUp, c.stale = false, false
	return nil
}

// Workers returns the workers that joined.
func (c *Coordinator[T]) Workers() []WorkerInfo { return c.workers }

// join waits for every worker's hello.
func (c *Coordinator[T]) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.JoinTimeout)
	defer cancel()
	joined := make([]bool, len(c.workers))
	for n := 0; n < len(joined); {
		select {
		case <-ctx.Done():
			var missing []string
			for i, ok := range joined {
				if !ok {
					missing = append(missing, c.workers[i].Nodes.String())
				}
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("cluster: run %s: no worker for %s joined within %v", c.o.Run, strings.Join(missing, ", "), c.o.JoinTimeout)
			}
			return ctx.Err()
		case msg := <-c.lost:
			return fmt.Errorf("cluster: run %s: %s", c.o.Run, msg)
		case e := <-c.o.exits:
			when := "before it joined"
			if joined[e.worker] {
				when = "while the coordinator waited for the other workers to join"
			}
			return c.exitError(e, when)
		case d := <-c.in:
			w := &c.workers[d.from]
			switch {
			case d.err != nil:
				return fmt.Errorf("cluster: run %s: from %v: %w", c.o.Run, w, d.err)
			case d.m.Kind == kindFailed:
				return fmt.Errorf("cluster: run %s: %v failed: %s", c.o.Run, w, d.m.Err)
			case d.m.Kind != kindHello:
				return fmt.Errorf("cluster: run %s: %v sent %v before it joined", c.o.Run, w, d.m.Kind)
			case d.m.Lo != w.Nodes.Lo || d.m.Hi != w.Nodes.Hi:
				return fmt.Errorf("cluster: run %s: a worker for nodes %d-%d joined where the placement has %v", c.o.Run, d.m.Lo, d.m.Hi, w.Nodes)
			}
			if !joined[d.from] {
				joined[d.from] = true
				w.Host, w.PID = d.m.Host, d.m.PID
				c.heard[d.from].touch()
				n++
			}
		}
	}
	return nil
}

// await collects the reply of kind to command seq from every worker. A worker silent
// for the timeout, a failed worker, a lost connection or a done ctx ends it with an
// error, and the coordinator is broken from then on.
func (c *Coordinator[T]) await(ctx context.Context, kind msgKind, seq uint64) ([]*message, error) {
	got := make([]*message, len(c.workers))
	// Checked every tenth of the timeout: a silent worker is found within 1.1 x timeout.
	tick, stop := c.o.clock.NewTicker(c.o.Timeout / 10)
	defer stop()
	start := c.o.clock.Now()
	for n := 0; n < len(got); {
		select {
		case <-ctx.Done():
			return nil, c.fail(fmt.Errorf("cluster: run %s: waiting for %s: %w", c.o.Run, c.awaited(kind, seq, got), ctx.Err()))
		case msg := <-c.lost:
			return nil, c.fail(fmt.Errorf("cluster: run %s: %s (waiting for %s)", c.o.Run, msg, c.awaited(kind, seq, got)))
		case now := <-tick:
			if err := c.overdue(now, start, kind, seq, got); err != nil {
				return nil, c.fail(err)
			}
		case e := <-c.o.exits:
			return nil, c.fail(c.exitError(e, fmt.Sprintf("while %v %d was due", kind, seq)))
		case d := <-c.in:
			w := c.workers[d.from]
			switch {
			case d.err != nil:
				return nil, c.fail(fmt.Errorf("cluster: run %s: from %v: %w", c.o.Run, w, d.err))
			case d.m.Kind == kindHello:
				continue // sent before the worker saw its setup
			case d.m.Kind == kindFailed:
				return nil, c.fail(fmt.Errorf("cluster: run %s: %v failed: %s", c.o.Run, w, d.m.Err))
			case d.m.Kind != kind || d.m.Seq != seq:
				return nil, c.fail(fmt.Errorf("cluster: run %s: %v sent %v %d where %v %d was due", c.o.Run, w, d.m.Kind, d.m.Seq, kind, seq))
			case got[d.from] != nil:
				return nil, c.fail(fmt.Errorf("cluster: run %s: %v sent %v %d twice", c.o.Run, w, kind, seq))
			}
			got[d.from] = d.m
			n++
		}
	}
	return got, nil
}

// exitError is the error that ends a wait when the worker process of e, which Start
// started here, has ended (when: "before it joined"). A worker that fails tells the
// coordinator why before it exits (kindFailed), and that report may still be on its way
// through the server when the exit is seen: for a short grace the report, if it comes,
// is the error, as it would be without the exit.
func (c *Coordinator[T]) exitError(e *procExit, when string) error {
	e.reported.Store(true) // Close names it no more
	grace := time.NewTimer(min(c.o.Timeout/2, time.Second))
	defer grace.Stop()
	for {
		select {
		case d := <-c.in:
			// Replies that are not failures no longer matter: the run ends.
			switch w := c.workers[d.from]; {
			case d.err != nil:
				return fmt.Errorf("cluster: run %s: from %v: %w", c.o.Run, w, d.err)
			case d.m.Kind == kindFailed:
				return fmt.Errorf("cluster: run %s: %v failed: %s", c.o.Run, w, d.m.Err)
			}
		case <-grace.C:
			name := fmt.Sprintf("the worker of %v (pid %d)", e.nodes, e.pid)
			if w := c.workers[e.worker]; w.Host != "" { // it joined: its host too
				name = w.String()
			}
			return fmt.Errorf("cluster: run %s: %s exited (%s) %s; stopping", c.o.Run, name, e.status(), when)
		}
	}
}

// awaited names the replies of kind to seq that have not come (got[i] nil): "report 3
// from the worker of nodes 0-1 (pid 4711 on a)", so that an error of the wait says whom
// the coordinator waited for, and for what.
func (c *Coordinator[T]) awaited(kind msgKind, seq uint64, got []*message) string {
	var from []string
	for i, w := range c.workers {
		if got[i] == nil {
			from = append(from, w.String())
		}
	}
	return fmt.Sprintf("%v %d from %s", kind, seq, strings.Join(from, " and "))
}

// overdue returns the error that ends a wait begun at start for the replies of kind to
// seq that have not come (got[i] nil) at now: a worker silent beyond the timeout, or a
// batch past its deadline. Before it blames a worker it asks the server for a round
// trip: a server that does not answer (alive but hung) is named as the cause instead.
func (c *Coordinator[T]) overdue(now, start time.Time, kind msgKind, seq uint64, got []*message) error {
	var late []string
	for i, w := range c.workers {
		if got[i] != nil {
			continue
		}
		if d, gone := c.heard[i].silent(now, c.o.Timeout); gone {
			if err := c.serverHung(); err != nil {
				return err
			}
			return fmt.Errorf("cluster: run %s: %v sent no heartbeat for %v (timeout %v) while its %v %d was due: it is gone; stopping", c.o.Run, w, d.Round(time.Millisecond), c.o.Timeout, kind, seq)
		}
		late = append(late, w.String())
	}
	if kind == kindReport && now.Sub(start) > c.o.BatchTimeout {
		return fmt.Errorf("cluster: run %s: batch %d not done within %v (the batch timeout): still waiting for %s; stopping", c.o.Run, seq, c.o.BatchTimeout, strings.Join(late, ", "))
	}
	return nil
}

// serverHung returns an error naming the server if it does not answer a round trip
// within half the timeout.
func (c *Coordinator[T]) serverHung() error {
	if err := c.o.Conn.FlushTimeout(max(c.o.Timeout/2, 10*time.Millisecond)); err != nil {
		return fmt.Errorf("cluster: run %s: the NATS server %s does not answer (%v): the workers are silent because it is; stopping", c.o.Run, c.url, err)
	}
	return nil
}

// send sends a command to worker w; a failure breaks the coordinator.
func (c *Coordinator[T]) send(w WorkerInfo, m *message) error {
	m.From = c.id
	err := c.out.send(cmdSubject(c.o.Run, w.Nodes.Lo), w.Nodes.Lo, m)
	switch {
	case err == nil:
		return nil
	case !c.o.Conn.IsConnected():
		return c.fail(fmt.Errorf("cluster: run %s: lost the connection to the NATS server %s (%v) sending %v %d to %v", c.o.Run, c.url, c.o.Conn.Status(), m.Kind, m.Seq, w))
	}
	return c.fail(fmt.Errorf("cluster: run %s: sending %v %d to %v: %w", c.o.Run, m.Kind, m.Seq, w, err))
}

func (c *Coordinator[T]) fail(err error) error {
	if c.broken == nil {
		c.broken = err
	}
	return err
}

// setup sends every worker its nodes' theta and optimiser states.
func (c *Coordinator[T]) setup(ctx context.Context) error {
	v := c.cfg
	run := spec.Run{
		Sizes: c.widths, Activation: c.act, Loss: "nll", Algorithm: spec.FromVariant(v.Variant),
		Arch: c.g.Shape(), Param: c.param, Skips: c.g.Skips(),
		PC:        spec.PCSettings{Steps: v.Steps, Gamma: v.Gamma, K: v.K, Precisions: v.Precisions, Engine: pcnet.Parallel, Schedule: v.Schedule},
		Optimizer: v.Optimizer, Batch: v.MaxBatch, Precision: spec.PrecisionOf[T](),
	}
	if v.Loss != nil {
		run.Loss = v.Loss.Name()
	}
	c.seq++
	for _, w := range c.workers {
		// Each setup's links have subjects of their own, so that nothing of an earlier
		// setup's links (a late credit) can reach the new ones.
		m := &message{Kind: kindSetup, Seq: c.seq, Net: run, Observe: c.cfg.Observer != nil, Delay: c.o.Delay, LinkSetup: int(c.seq)}
		for l := w.Nodes.Lo; l <= min(w.Nodes.Hi, c.h); l++ {
			m.Layers = append(m.Layers, captureLayer(c.maps[l], c.opt[l]))
		}
		if err := c.send(w, m); err != nil {
			return err
		}
	}
	if _, err := c.await(ctx, kindReady, c.seq); err != nil {
		return err
	}
	c.setUp = true
	return nil
}

// Sync brings the coordinator's copy of theta and of the optimiser states up to date with
// the workers' (for a checkpoint, or evaluation).
func (c *Coordinator[T]) Sync(ctx context.Context) error {
	if c.broken != nil {
		return c.broken
	}
	if !c.stale {
		return nil
	}
	c.seq++
	for _, w := range c.workers {
		if err := c.send(w, &message{Kind: kindFetch, Seq: c.seq}); err != nil {
			return err
		}
	}
	states, err := c.await(ctx, kindState, c.seq)
	if err != nil {
		return err
	}
	for i, w := range c.workers {
		want := max(min(w.Nodes.Hi, c.h)-w.Nodes.Lo+1, 0)
		if len(states[i].Layers) != want {
			return c.fail(fmt.Errorf("cluster: run %s: %v sent %d layers, it hosts %d", c.o.Run, w, len(states[i].Layers), want))
		}
		for j, s := range states[i].Layers {
			l := w.Nodes.Lo + j
			if err := restoreLayer(c.maps[l], c.opt[l], s, l); err != nil {
				return c.fail(fmt.Errorf("cluster: run %s: from %v: %w", c.o.Run, w, err))
			}
		}
	}
	c.stale = false
	return nil
}

// Updates fetches the weight updates of the last batch from the workers (see
// Network.Updates).
func (c *Coordinator[T]) Updates(ctx context.Context) ([]*layer.Grad[T], error) {
	if c.broken != nil {
		return nil, c.broken
	}
	c.seq++
	for _, w := range c.workers {
		if err := c.send(w, &message{Kind: kindFetch, Seq: c.seq, Updates: true}); err != nil {
			return nil, err
		}
	}
	states, err := c.await(ctx, kindState, c.seq)
	if err != nil {
		return nil, err
	}
	var out []*layer.Grad[T]
	for i, w := range c.workers {
		want := max(min(w.Nodes.Hi, c.h)-w.Nodes.Lo+1, 0)
		if len(states[i].Layers) != want {
			return nil, c.fail(fmt.Errorf("cluster: run %s: %v sent %d updates, it hosts %d layers", c.o.Run, w, len(states[i].Layers), want))
		}
		for j, s := range states[i].Layers {
			l := w.Nodes.Lo + j
			g := layer.GradFor(c.maps[l])
			p := g.Params()
			if err := floatsInto(p[0], s.W, fmt.Sprintf("update of layer %d weight", l)); err != nil {
				return nil, c.fail(err)
			}
			if err := floatsInto(p[1], s.B, fmt.Sprintf("update of layer %d bias", l)); err != nil {
				return nil, c.fail(err)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// Layers returns the coordinator's copy of theta as dense layers when every map is one
// (else nil: see Maps): current after Sync.
func (c *Coordinator[T]) Layers() []*layer.Dense[T] { return c.layers }

// Maps returns the coordinator's copy of theta, one map per node 0..H: current after Sync.
func (c *Coordinator[T]) Maps() []layer.Map[T] { return c.maps }

// Graph returns the network's layer graph.
func (c *Coordinator[T]) Graph() *graph.Graph { return c.g }

// Optimizers returns the coordinator's copy of the optimiser states: current after Sync.
// Restored before the first Step, they are what the workers start from.
func (c *Coordinator[T]) Optimizers() [][2]*optim.State[T] { return c.opt }

// Close tells the workers that the run is over and stops the coordinator's goroutines.
// It does not close the connection.
func (c *Coordinator[T]) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	// Only the coordinator that holds the run (NewCoordinator claimed it) has workers to
	// stop; c.workers is empty otherwise.
	for _, w := range c.workers {
		_ = c.out.send(cmdSubject(c.o.Run, w.Nodes.Lo), w.Nodes.Lo, &message{Kind: kindStop, From: c.id})
	}
	// The stops leave before the subscriptions go.
	_ = c.o.Conn.FlushTimeout(time.Second)
	if c.claim != nil {
		c.claim.release()
	}
	close(c.done)
	for _, s := range c.subs {
		_ = s.Unsubscribe()
	}
	c.wg.Wait()
	c.unwatch()
	return nil
}
