package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/cluster"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// natsFlags say how to reach a NATS server; secrets come from files or the environment.
type natsFlags struct {
	url                       string
	tokenFile, tokenEnv       string
	user                      string
	passwordFile, passwordEnv string
	nkey, creds               string
	caFile, certFile, keyFile string
	timeout, joinTimeout      time.Duration
	runKeyFile, runKeyEnv     string // the run key (cluster.LoadKey)
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.url, "nats", "", "`URL` of a NATS server or cluster (nats://host:4222, tls://..., or a comma list; no user:password@: use -nats-user and -nats-password-file)")
	fs.StringVar(&n.tokenFile, "nats-token-file", "", "`file` holding the NATS token")
	fs.StringVar(&n.tokenEnv, "nats-token-env", "", "environment `variable` holding the NATS token")
	fs.StringVar(&n.user, "nats-user", "", "NATS `user` (with -nats-password-file or -nats-password-env)")
	fs.StringVar(&n.passwordFile, "nats-password-file", "", "`file` holding the NATS user's password")
	fs.StringVar(&n.passwordEnv, "nats-password-env", "", "environment `variable` holding the NATS user's password")
	fs.StringVar(&n.nkey, "nats-nkey", "", "`file` holding an nkey seed (SU...)")
	fs.StringVar(&n.creds, "nats-creds", "", "NATS credentials `file` (user JWT and seed)")
	fs.StringVar(&n.caFile, "nats-ca", "", "TLS: `file` of the CA certificates that sign the server's")
	fs.StringVar(&n.certFile, "nats-cert", "", "TLS: client certificate `file` (with -nats-key)")
	fs.StringVar(&n.keyFile, "nats-key", "", "TLS: client key `file` (with -nats-cert)")
	fs.StringVar(&n.runKeyFile, "run-key-file", "", "`file` holding the run key (64 hex digits), the same for the coordinator and every worker of the run; -workers makes its own")
	fs.StringVar(&n.runKeyEnv, "run-key-env", "", "environment `variable` holding the run key (64 hex digits)")
	fs.DurationVar(&n.timeout, "timeout", cluster.DefaultTimeout, "a worker or coordinator silent this long counts as gone and stops the run (at least 10ms; a NATS server that answers no ping for half of it counts as hung)")
	fs.DurationVar(&n.joinTimeout, "join-timeout", cluster.DefaultJoinTimeout, "how long to wait for the workers to join (coordinator) or for the setup (worker)")
}

// minTimeout is the least -timeout: heartbeats go out every timeout/5 and the
// watchdogs look every timeout/10, which below 1 ms is no period at all.
const minTimeout = 10 * time.Millisecond

// check finds what is wrong with the flags before anything connects. Its lines never
// repeat the -nats URL, which may hold a password.
func (n *natsFlags) check() error {
	switch {
	case n.timeout < minTimeout:
		return usagef("-timeout: must be at least %v, got %v", minTimeout, n.timeout)
	case n.joinTimeout <= 0:
		return usagef("-join-timeout: must be > 0, got %v", n.joinTimeout)
	case n.certFile != "" && n.keyFile == "":
		return usagef("-nats-cert needs -nats-key (the client certificate's key)")
	case n.keyFile != "" && n.certFile == "":
		return usagef("-nats-key needs -nats-cert (the client certificate)")
	}
	if n.url == "" {
		return nil
	}
	if err := natsconn.CheckURL(n.url); err != nil {
		if errors.Is(err, natsconn.ErrURLUserInfo) {
			return usagef("-nats: the URL holds user information (user:password@ or token@), which would be printed and seen in process lists; give the user with -nats-user and the password with -nats-password-file (or -nats-password-env)")
		}
		return usagef("-nats: %s", strings.TrimPrefix(err.Error(), "natsconn: "))
	}
	return nil
}

// checkRun checks a -run ID as the coordinator and the workers will.
func checkRun(run string) error {
	if err := natslink.CheckRun(run, cluster.MaxRunID); err != nil {
		return usagef("-run: %v", err)
	}
	return nil
}

// clientOptions are the dial options of a process of run; the run's request inboxes are
// under its subjects, so that a server that confines its users to pcnet.<run>.> lets
// them through (docs/nats-run-permissions.conf).
func (n *natsFlags) clientOptions(name, run string) natsconn.ClientOptions {
	return natsconn.ClientOptions{
		URL: n.url, Name: name,
		Token:        natsconn.Secret{File: n.tokenFile, Env: n.tokenEnv},
		User:         n.user,
		Password:     natsconn.Secret{File: n.passwordFile, Env: n.passwordEnv},
		NKeySeedFile: n.nkey, CredsFile: n.creds,
		CAFile: n.caFile, CertFile: n.certFile, KeyFile: n.keyFile,
		// Half the timeout: a hung server is named before its silence makes a peer's
		// heartbeat run out.
		HungAfter:   n.timeout / 2,
		InboxPrefix: natslink.Subject(run, "inbox"),
	}
}

// key loads the run key from -run-key-file or -run-key-env.
func (n *natsFlags) key() ([]byte, error) {
	return cluster.LoadKey(natsconn.Secret{File: n.runKeyFile, Env: n.runKeyEnv})
}

func (n *natsFlags) dial(ctx context.Context, name, run string) (*nats.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.joinTimeout)
	defer cancel()
	return natsconn.Dial(ctx, n.clientOptions(name, run))
}

type workerFlags struct {
	fs    *flag.FlagSet
	nats  natsFlags
	run   string
	nodes string
	name  string
}

func newWorkerFlags() *workerFlags {
	f := &workerFlags{fs: flag.NewFlagSet("worker", flag.ContinueOnError)}
	f.nats.register(f.fs)
	f.fs.StringVar(&f.run, "run", "", "`ID` of the run to join, as given to the coordinator (A-Z a-z 0-9 _ -)")
	f.fs.StringVar(&f.nodes, "nodes", "", "the `range` lo-hi of nodes this worker hosts (one of the coordinator's -placement)")
	f.fs.StringVar(&f.name, "name", "", "the worker's name in the coordinator's messages (empty: the host name)")
	return f
}

const workerDetails = `A worker hosts a contiguous range of a network's nodes for one run: it joins the run
on the NATS server, takes its nodes' weights and optimiser states from the coordinator
(pcnet train -nats URL -run ID -placement ...) in the run's precision, which the
coordinator's setup names (float32 or float64), runs every batch with its neighbours, and
exits when the coordinator says the run is over (status 0), or with status 1 and one line
when it did not finish the run: the coordinator falls silent for -timeout or stops it
before its setup, the connection to the server is lost, a command is
bad, or no coordinator sets it up within -join-timeout. It takes the run key (the same
as the coordinator's) from -run-key-file or -run-key-env, and commands only from the
coordinator that set it up. pcnet train -workers N starts its own workers on this
machine; see docs/distributed.md for several machines.
`

func runWorker(ctx context.Context, args []string, stdout, _ io.Writer) error {
	f := newWorkerFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return err
	}
	if f.nats.url == "" || f.run == "" || f.nodes == "" {
		return usagef("a worker needs -nats, -run and -nodes")
	}
	if err := f.nats.check(); err != nil {
		return err
	}
	if err := checkRun(f.run); err != nil {
		return err
	}
	r, err := cluster.ParseRange(f.nodes)
	if err != nil {
		return usagef("-nodes: %v", err)
	}
	if f.nats.runKeyFile == "" && f.nats.runKeyEnv == "" {
		return usagef("a worker needs the run key: -run-key-file or -run-key-env")
	}
	key, err := f.nats.key()
	if err != nil {
		return err
	}
	nc, err := f.nats.dial(ctx, fmt.Sprintf("pcnet worker %v of run %s", r, f.run), f.run)
	if err != nil {
		return err
	}
	defer nc.Close()
	err = cluster.Serve(ctx, cluster.WorkerOptions{Conn: nc, Key: key, Run: f.run, Nodes: r, Name: f.name, Timeout: f.nats.timeout, JoinTimeout: f.nats.joinTimeout})
	if refused := natsconn.Refused(nc); err != nil && refused != nil {
		// Whatever failed first (a publish on the closed connection), the cause is this.
		return fmt.Errorf("cluster: worker of %v, run %s: %w", r, f.run, refused)
	}
	return err
}

// clusterFlags are train's and compare's flags for running the nodes in workers.
type clusterFlags struct {
	nats      natsFlags
	workers   int
	placement string
	run       string
	linkDelay time.Duration
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	c.nats.register(fs)
	fs.IntVar(&c.workers, "workers", 0, "run the network's nodes in `N` worker processes on this machine (an embedded NATS server on 127.0.0.1, a random port and token); 0: in this process")
	fs.StringVar(&c.placement, "placement", "", "with -nats: the node `ranges` of the workers started elsewhere, in order (\"0-2,3-5\")")
	fs.StringVar(&c.run, "run", "", "with -nats: the run's `ID`, as given to its workers")
	fs.DurationVar(&c.linkDelay, "link-delay", 0, "add this `delay` to every hop between workers (to measure latency: times change, numbers do not)")
}

// distributed reports whether the flags ask for workers.
func (c *clusterFlags) distributed() bool { return c.workers > 0 || c.nats.url != "" }

func (c *clusterFlags) check(alg spec.Algorithm, h int, engine pcnet.Engine) error {
	if c.workers < 0 {
		return usagef("-workers: must be >= 0, got %d", c.workers)
	}
	if !c.distributed() {
		if c.placement != "" || c.run != "" || c.linkDelay != 0 {
			return usagef("-placement, -run and -link-delay need -workers or -nats")
		}
		return nil
	}
	if !alg.IsPC() {
		return usagef("-workers and -nats run predictive-coding variants; bp runs in one process")
	}
	switch {
	case c.workers > 0 && c.nats.url != "":
		return usagef("-workers starts its own server and workers; -nats uses workers started elsewhere: give one")
	case c.workers > h+2:
		return usagef("-workers %d: the network has only %d nodes", c.workers, h+2)
	case c.nats.url != "" && (c.placement == "" || c.run == ""):
		return usagef("-nats needs -placement (the workers' node ranges) and -run (the ID they were given)")
	case c.workers > 0 && (c.nats.runKeyFile != "" || c.nats.runKeyEnv != ""):
		return usagef("-workers makes its own run key; -run-key-file and -run-key-env are for workers started elsewhere (-nats)")
	case c.workers > 0 && (c.placement != "" || c.run != ""):
		return usagef("-placement and -run are for workers started elsewhere (-nats); -workers places its own")
	case c.linkDelay < 0:
		return usagef("-link-delay: must be >= 0, got %v", c.linkDelay)
	case engine == pcnet.Sequential:
		return usagef("-engine sequential runs in one process; workers run the parallel engine")
	}
	if c.nats.url != "" {
		if _, err := cluster.ParsePlacement(c.placement, h+2); err != nil {
			return usagef("-placement: %v", err)
		}
		if err := checkRun(c.run); err != nil {
			return err
		}
		if c.nats.runKeyFile == "" && c.nats.runKeyEnv == "" {
			return usagef("-nats needs the run key its workers were given: -run-key-file or -run-key-env")
		}
	}
	return c.nats.check()
}

// clusterLearner is a train.Learner[T] whose nodes live in workers: the run that
// cluster.Start started, closed by its Close.
type clusterLearner[T tensor.Float] struct {
	*cluster.Cluster[T]
	g *graph.Graph // the chain of the layers: a cluster runs chains only for now (refuseClusterGraph)
}

// Graph returns the chain of the cluster's layers.
func (l *clusterLearner[T]) Graph() *graph.Graph { return l.g }

// Maps returns the cluster's layers as maps.
func (l *clusterLearner[T]) Maps() []layer.Map[T] { return layer.AsMaps(l.Layers()) }

// linkMetrics receives the links' traffic and the rejected messages that the workers
// report (metrics.Metrics).
type linkMetrics interface {
	AddLinkTraffic(channels.Traffic) error
	AddRejected(kind, reason string, n uint64)
}

// startCluster starts (or joins) the workers and the coordinator of a run with flags c
// on layers, in their precision T (the workers take it from the coordinator's setup),
// printing where every node runs; m (nil: none) receives the links' traffic and the
// rejected messages.
func startCluster[T tensor.Float](ctx context.Context, c *clusterFlags, layers []*layer.Dense[T], cfg pcnet.Config, m linkMetrics, stdout, stderr io.Writer) (*clusterLearner[T], error) {
	o := cluster.StartOptions{
		Workers: c.workers, Stderr: stderr, Log: stdout,
		Timeout: c.nats.timeout, JoinTimeout: c.nats.joinTimeout, Delay: c.linkDelay,
	}
	if m != nil {
		o.Traffic = m.AddLinkTraffic
		o.Rejected = func(r cluster.Rejected) { m.AddRejected(r.Kind, r.Reason, r.N) }
	}
	if c.workers > 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("-workers: finding this program to start the workers: %w", err)
		}
		o.Executable = exe
	} else {
		ranges, err := cluster.ParsePlacement(c.placement, len(layers)+1)
		if err != nil {
			return nil, usagef("-placement: %v", err)
		}
		if o.Key, err = c.nats.key(); err != nil {
			return nil, err
		}
		o.Dial, o.Run, o.Placement = c.nats.clientOptions("pcnet coordinator of run "+c.run, c.run), c.run, ranges
	}
	widths := []int{layers[0].In()}
	for _, d := range layers {
		widths = append(widths, d.Out())
	}
	g, err := graph.New(widths, graph.Chain, nil)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.Start(ctx, o, layers, cfg)
	if err != nil {
		return nil, err
	}
	return &clusterLearner[T]{cl, g}, nil
}

// inferUpdates runs one inference in the workers and returns the weight updates.
func (l *clusterLearner[T]) inferUpdates(ctx context.Context, x *tensor.Matrix[T], labels []int) ([]*layer.Grad[T], error) {
	if _, err := l.Infer(ctx, x, labels); err != nil {
		return nil, err
	}
	return l.Updates(ctx)
}

var (
	_ train.Learner[float64] = (*clusterLearner[float64])(nil)
	_ train.Learner[float32] = (*clusterLearner[float32])(nil)
	_ train.Syncer           = (*clusterLearner[float32])(nil)
)

// workerNote is printed on the run's describe line.
func (c *clusterFlags) note() string {
	var b strings.Builder
	if c.workers > 0 {
		fmt.Fprintf(&b, "; %d worker processes", c.workers)
	} else {
		fmt.Fprintf(&b, "; workers %s over %s", c.placement, c.nats.url)
	}
	if c.linkDelay > 0 {
		fmt.Fprintf(&b, ", link delay %v", c.linkDelay)
	}
	b.WriteString("; no cosine to backprop (the weights live in the workers)")
	return b.String()
}
