package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// StartOptions say where a run's workers are: started here (Workers > 0), or started
// elsewhere and reached over NATS (Dial, Run, Placement).
type StartOptions struct {
	// Workers > 0 starts an embedded NATS server on 127.0.0.1 (a random port and token)
	// and this many worker processes on this machine, the nodes split among them as
	// Split does.
	Workers int
	// Executable is the pcnet binary the workers run (`Executable worker ...`; the
	// command passes os.Executable()); the server's token reaches them in TokenEnv.
	Executable string
	// Stderr receives the worker processes' output and the coordinator's warnings (one
	// line per kind of message the run rejects; nil: discarded).
	Stderr io.Writer

	// Dial reaches the server of workers started elsewhere (`pcnet worker`); Run is the
	// ID they were given, Placement their node ranges, covering 0..H+1 in order.
	Dial      natsconn.ClientOptions
	Run       string
	Placement []Range
	// Key is the run key those workers were given (LoadKey); Workers > 0 makes its own
	// (NewKey) and hands it to its workers in KeyEnv.
	Key []byte

	// Timeout, JoinTimeout, Delay and Traffic are the coordinator's (Options); Timeout
	// is the local workers' too, and JoinTimeout bounds the dial as well.
	Timeout, JoinTimeout, Delay time.Duration
	Traffic                     func(channels.Traffic) error
	// Rejected is the coordinator's (Options.Rejected).
	Rejected func(Rejected)

	// Log, if set, receives a line naming the server and the run as the wait for the
	// workers begins, and one per worker, its nodes, pid and host, once all joined.
	Log io.Writer
}

// Cluster is a run whose nodes live in workers, in precision T: its Coordinator (a
// train.Learner[T]) and what Start started for it, the embedded server, the worker
// processes and the connection. Close ends them all.
type Cluster[T tensor.Float] struct {
	*Coordinator[T]
	local *local     // with StartOptions.Workers
	conn  *nats.Conn // with StartOptions.Dial
}

// Start starts a run on layers (the network's initial theta, in the run's precision T)
// with cfg: the server and the worker processes, or the connection to workers started
// elsewhere, and the coordinator, and waits until every worker has joined. The workers
// learn T from the coordinator's setup. On error nothing it started is left running.
// It is StartGraph on the chain of the layers.
func Start[T tensor.Float](ctx context.Context, o StartOptions, layers []*layer.Dense[T], cfg pcnet.Config) (*Cluster[T], error) {
	g, err := chainOf(layers)
	if err != nil {
		return nil, err
	}
	return StartGraph(ctx, o, g, layer.AsMaps(layers), cfg)
}

// StartGraph is Start on the layer graph g with maps, one per node 0..H (see
// NewGraphCoordinator): the workers' ranges split g's nodes, and a long skip between two
// workers is a link like any other (docs/design.md §9, §11).
func StartGraph[T tensor.Float](ctx context.Context, o StartOptions, g *graph.Graph, maps []layer.Map[T], cfg pcnet.Config) (*Cluster[T], error) {
	if g == nil {
		return nil, errors.New("cluster: Start: no layer graph")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.Timeout < 0 || o.JoinTimeout < 0 {
		return nil, errors.New("cluster: negative timeout")
	}
	co := Options{Timeout: o.Timeout, JoinTimeout: o.JoinTimeout, Delay: o.Delay, Traffic: o.Traffic, Rejected: o.Rejected, Log: o.Stderr}
	c := &Cluster[T]{}
	switch {
	case o.Workers > 0:
		if o.Executable == "" {
			return nil, errors.New("cluster: Start: local workers need the pcnet binary (StartOptions.Executable)")
		}
		l, err := startLocal(ctx, localOptions{workers: o.Workers, nodes: g.H() + 2, executable: o.Executable, timeout: o.Timeout, stderr: o.Stderr})
		if err != nil {
			return nil, err
		}
		c.local = l
		co.Conn, co.Run, co.Workers, co.Key, co.exits = l.conn, l.run, l.workers, l.key, l.exits
		logf(o.Log, "workers: embedded NATS server %s, run %s\n", l.server.URL, l.run)
	case o.Dial.URL != "":
		if err := checkKey(o.Key); err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, o.JoinTimeout)
		defer cancel()
		if o.Dial.Name == "" {
			o.Dial.Name = "pcnet coordinator of run " + o.Run
		}
		nc, err := natsconn.Dial(dctx, o.Dial)
		if err != nil {
			return nil, err
		}
		c.conn = nc
		co.Conn, co.Run, co.Workers, co.Key = nc, o.Run, o.Placement, o.Key
		logf(o.Log, "workers: NATS %s, run %s, waiting for %d workers\n", nc.ConnectedUrlRedacted(), o.Run, len(o.Placement))
	default:
		return nil, errors.New("cluster: Start: no workers to start (StartOptions.Workers) and no server to dial (StartOptions.Dial)")
	}
	coord, err := NewGraphCoordinator(ctx, co, g, maps, cfg)
	if err != nil {
		if c.conn != nil {
			if refused := natsconn.Refused(c.conn); refused != nil {
				// A subject the server refused this user closed the connection: whatever
				// failed on it first, this is the cause.
				err = fmt.Errorf("cluster: run %s: %w", o.Run, refused)
			}
		}
		// The workers were told to stop, and one stopped before its run ends with an
		// error of its own: a consequence, not the cause, which err names on one line.
		_ = c.closeTransport()
		return nil, err
	}
	c.Coordinator = coord
	for _, w := range coord.Workers() {
		logf(o.Log, "  %v: pid %d on %s\n", w.Nodes, w.PID, w.Host)
	}
	return c, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// Close ends the run in order: the coordinator tells the workers that it is over and
// stops; the local worker processes are waited for (killed after the timeout), then the
// connection and the embedded server close. It returns an error naming a worker that
// failed or had to be killed.
func (c *Cluster[T]) Close() error {
	var err error
	if c.Coordinator != nil {
		err = c.Coordinator.Close()
	}
	return errors.Join(err, c.closeTransport())
}

// closeTransport closes what Start started below the coordinator.
func (c *Cluster[T]) closeTransport() error {
	var err error
	if c.local != nil {
		err = c.local.close()
		c.local = nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return err
}
