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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/cluster/natsconn"
)

// TokenEnv is the environment variable through which a local run hands its workers the
// embedded server's token (never on a command line).
const TokenEnv = "PCNET_NATS_TOKEN"

// WorkerArgs is the command line of `pcnet worker` for a worker of run on nodes r that
// reaches the server at url with the token in TokenEnv.
func WorkerArgs(url, run string, r Range, timeout time.Duration) []string {
	return []string{"-nats", url, "-nats-token-env", TokenEnv, "-run", run, "-nodes", fmt.Sprintf("%d-%d", r.Lo, r.Hi), "-timeout", timeout.String()}
}

// LocalOptions configure a run of worker processes on this machine.
type LocalOptions struct {
	Workers int // worker processes, 1..Nodes
	Nodes   int // H+2
	// Command makes the command that runs `pcnet worker` with args (cmd/pcnet: this
	// binary, "worker", args...). Its environment gets TokenEnv added.
	Command func(args []string) *exec.Cmd
	Timeout time.Duration // the workers' and coordinator's (0: DefaultTimeout)
	Stderr  io.Writer     // where the workers' output goes (nil: discarded)
}

// Local is an embedded NATS server on 127.0.0.1 (random port, random token) and worker
// processes on it, one per range. Close stops them all.
type Local struct {
	Server  *natsconn.Embedded
	Conn    *nats.Conn // the coordinator's connection
	Run     string
	Workers []Range
	timeout time.Duration
	procs   []*exec.Cmd
	exited  []chan error
}

// StartLocal starts the server and the workers. The caller makes a Coordinator on
// l.Conn for l.Run and l.Workers, and closes it before l.
func StartLocal(ctx context.Context, o LocalOptions) (*Local, error) {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	ranges, err := Split(o.Nodes, o.Workers)
	if err != nil {
		return nil, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	l := &Local{Run: "run-" + hex.EncodeToString(id[:]), Workers: ranges, timeout: o.Timeout}
	if l.Server, err = (natsconn.Server{}).Start(ctx); err != nil {
		return nil, err
	}
	if l.Conn, err = natsconn.DialEmbedded(ctx, l.Server, "pcnet coordinator"); err != nil {
		l.Close()
		return nil, err
	}
	for _, r := range ranges {
		cmd := o.Command(WorkerArgs(l.Server.URL, l.Run, r, o.Timeout))
		cmd.Env = append(os.Environ(), TokenEnv+"="+l.Server.Token)
		cmd.Stdout, cmd.Stderr = o.Stderr, o.Stderr
		ownGroup(cmd)
		if err := cmd.Start(); err != nil {
			l.Close()
			return nil, fmt.Errorf("cluster: starting the worker of %v: %w", r, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		l.procs, l.exited = append(l.procs, cmd), append(l.exited, exited)
	}
	return l, nil
}

// PIDs returns the worker processes' IDs, by range.
func (l *Local) PIDs() []int {
	var out []int
	for _, p := range l.procs {
		out = append(out, p.Process.Pid)
	}
	return out
}

// Close waits up to the timeout for every worker process to exit (a closed Coordinator
// has told them to), kills those still running, and stops the server. It returns an
// error naming a worker that had to be killed or failed.
func (l *Local) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	for i, p := range l.procs {
		select {
		case err := <-l.exited[i]:
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster: the worker of %v (pid %d): %w", l.Workers[i], p.Process.Pid, err))
			}
		case <-ctx.Done():
			_ = p.Process.Kill()
			<-l.exited[i]
			errs = append(errs, fmt.Errorf("cluster: the worker of %v (pid %d) did not stop within %v; killed", l.Workers[i], p.Process.Pid, l.timeout))
		}
	}
	if l.Conn != nil {
		l.Conn.Close()
	}
	if l.Server != nil {
		l.Server.Shutdown()
	}
	return errors.Join(errs...)
}
