package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/cluster/natsconn"
)

// TokenEnv is the environment variable through which a local run hands its workers the
// embedded server's token (never on a command line).
const TokenEnv = "PCNET_NATS_TOKEN"

// workerArgs is the command line of `pcnet worker` for a worker of run on nodes r that
// reaches the server at url with the token in TokenEnv and the run key in KeyEnv.
func workerArgs(url, run string, r Range, timeout time.Duration) []string {
	return []string{"-nats", url, "-nats-token-env", TokenEnv, "-run-key-env", KeyEnv, "-run", run, "-nodes", fmt.Sprintf("%d-%d", r.Lo, r.Hi), "-timeout", timeout.String()}
}

// localOptions configure a run of worker processes on this machine.
type localOptions struct {
	workers int // worker processes, 1..nodes
	nodes   int // H+2
	// executable is the pcnet binary: a worker runs `executable worker args...`, with
	// TokenEnv added to its environment.
	executable string
	timeout    time.Duration // the workers' and coordinator's
	stderr     io.Writer     // where the workers' output goes (nil: discarded)
}

// local is an embedded NATS server on 127.0.0.1 (random port, random token) and worker
// processes on it, one per range. close stops them all.
type local struct {
	server  *natsconn.Embedded
	conn    *nats.Conn // the coordinator's connection
	run     string
	key     []byte // the run key, made here and handed to the workers in KeyEnv
	workers []Range
	timeout time.Duration
	procs   []*exec.Cmd
	ended   []*procExit
	// exits receives each worker's end as it happens, for the coordinator
	// (Options.exits): it owns the processes, so it need not wait for a heartbeat
	// to miss a worker that died (a join timeout, before the worker's hello).
	exits chan *procExit
}

// procExit is how a local worker process ended. err and the fields above it are set
// before done is closed.
type procExit struct {
	worker int   // its index in the placement
	nodes  Range // its nodes
	pid    int
	err    error // cmd.Wait's: nil for exit status 0
	done   chan struct{}
	// reported says that the coordinator has ended the run with this exit, so that
	// close does not name it a second time.
	reported atomic.Bool
}

// status is how the process ended, in words: "exit status 1", "signal: killed".
func (e *procExit) status() string {
	if e.err == nil {
		return "exit status 0"
	}
	return e.err.Error()
}

// startLocal starts the server and the workers. The caller makes a Coordinator on
// l.conn for l.run and l.workers, and closes it before l.
func startLocal(ctx context.Context, o localOptions) (*local, error) {
	ranges, err := Split(o.nodes, o.workers)
	if err != nil {
		return nil, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	l := &local{run: "run-" + hex.EncodeToString(id[:]), workers: ranges, timeout: o.timeout, exits: make(chan *procExit, len(ranges))}
	if l.key, err = NewKey(); err != nil {
		return nil, err
	}
	if l.server, err = (natsconn.Server{}).Start(ctx); err != nil {
		return nil, err
	}
	if l.conn, err = natsconn.DialEmbedded(ctx, l.server, "pcnet coordinator"); err != nil {
		_ = l.close()
		return nil, err
	}
	for i, r := range ranges {
		cmd := exec.Command(o.executable, append([]string{"worker"}, workerArgs(l.server.URL, l.run, r, o.timeout)...)...)
		cmd.Env = append(os.Environ(), TokenEnv+"="+l.server.Token, KeyEnv+"="+EncodeKey(l.key))
		cmd.Stdout, cmd.Stderr = o.stderr, o.stderr
		ownGroup(cmd)
		if err := cmd.Start(); err != nil {
			_ = l.close()
			return nil, fmt.Errorf("cluster: starting the worker of %v: %w", r, err)
		}
		e := &procExit{worker: i, nodes: r, pid: cmd.Process.Pid, done: make(chan struct{})}
		// close waits for it (done, its last act); the send never blocks: exits has room
		// for every worker.
		go func() {
			e.err = cmd.Wait()
			l.exits <- e
			close(e.done)
		}()
		l.procs, l.ended = append(l.procs, cmd), append(l.ended, e)
	}
	return l, nil
}

// close waits up to the timeout for every worker process to exit (a closed Coordinator
// has told them to), kills those still running, and stops the server. It returns an
// error naming a worker that had to be killed or failed, unless the coordinator has
// named its exit already.
func (l *local) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	for i, p := range l.procs {
		e := l.ended[i]
		select {
		case <-e.done:
			if e.err != nil && !e.reported.Load() {
				errs = append(errs, fmt.Errorf("cluster: the worker of %v (pid %d): %w", l.workers[i], p.Process.Pid, e.err))
			}
		case <-ctx.Done():
			_ = p.Process.Kill()
			<-e.done
			errs = append(errs, fmt.Errorf("cluster: the worker of %v (pid %d) did not stop within %v; killed", l.workers[i], p.Process.Pid, l.timeout))
		}
	}
	if l.conn != nil {
		l.conn.Close()
	}
	if l.server != nil {
		l.server.Shutdown()
	}
	return errors.Join(errs...)
}
