package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/cluster"
	"github.com/stretchr/testify/require"
)

// permissionsConf is the server configuration docs/distributed.md gives for runs that
// strangers cannot reach: users per run, each allowed only its run's subjects.
const permissionsConf = "../../docs/nats-run-permissions.conf"

// lookNATSServer finds Debian's nats-server (installed in /usr/sbin), or skips the test
// saying how to install it; under CI=true a missing binary fails the test instead.
func lookNATSServer(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nats-server")
	if err == nil {
		return path
	}
	if _, serr := os.Stat("/usr/sbin/nats-server"); serr == nil {
		return "/usr/sbin/nats-server"
	}
	msg := fmt.Sprintf("nats-server not found on PATH nor in /usr/sbin (%v): install it with `apt-get install -y nats-server` (Debian/Ubuntu)", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this fails rather than skips")
	}
	t.Skip(msg)
	return ""
}

// realServer is a nats-server process with docs/nats-run-permissions.conf; passwords
// holds a file with each user's password.
type realServer struct {
	url       string
	pid       int
	passwords map[string]string // user -> password file
	keys      map[string]string // run -> run key file
}

var runUsers = []string{"run-a-coordinator", "run-a-worker", "run-b-coordinator", "run-b-worker"}

// startRealServer starts nats-server on 127.0.0.1 at a free port with the permissions
// configuration and a random password per user (given to the server in its
// environment), and stops it when the test ends.
func startRealServer(t *testing.T) *realServer {
	t.Helper()
	bin := lookNATSServer(t)
	dir := t.TempDir()
	s := &realServer{passwords: map[string]string{}, keys: map[string]string{}}
	for _, run := range []string{"run-a", "run-b"} {
		key, err := cluster.NewKey()
		require.NoError(t, err)
		s.keys[run] = filepath.Join(dir, run+".key")
		require.NoError(t, os.WriteFile(s.keys[run], []byte(cluster.EncodeKey(key)), 0o600))
	}
	env := os.Environ()
	for _, u := range runUsers {
		var b [16]byte
		_, _ = rand.Read(b[:])
		// A letter first: the server parses an environment variable's value as a
		// configuration value, and all digits would make it a number.
		pw := "pw" + hex.EncodeToString(b[:])
		file := filepath.Join(dir, u+".password")
		require.NoError(t, os.WriteFile(file, []byte(pw+"\n"), 0o600))
		s.passwords[u] = file
		env = append(env, "PCNET_"+strings.ToUpper(strings.ReplaceAll(u, "-", "_"))+"_PASSWORD="+pw)
	}
	// A free port: listen, note it, close; nobody else on this machine takes it in
	// the moment before the server does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "-c", permissionsConf, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = env
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	s.url, s.pid = fmt.Sprintf("nats://127.0.0.1:%d", port), cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-exited:
			t.Fatalf("nats-server exited (%v): %s", waitErr, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not listening on %d within 10s: %s", port, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auth is the command line of a user of the server.
func (s *realServer) auth(user string) []string {
	return []string{"-nats", s.url, "-nats-user", user, "-nats-password-file", s.passwords[user], "-run-key-file", s.keys[user[:len("run-a")]]}
}

// client connects as user with nats.go; the asynchronous errors (permission
// violations) arrive on the returned channel.
func (s *realServer) client(t *testing.T, user string) (*nats.Conn, <-chan error) {
	t.Helper()
	pw, err := os.ReadFile(s.passwords[user])
	require.NoError(t, err)
	errs := make(chan error, 16)
	nc, err := nats.Connect(s.url, nats.UserInfo(user, strings.TrimSpace(string(pw))), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc, errs
}

// requireViolation waits for the permission violation that names subject.
func requireViolation(t *testing.T, errs <-chan error, what, subject string) {
	t.Helper()
	select {
	case err := <-errs:
		require.True(t, errors.Is(err, nats.ErrPermissionViolation), "%s: %v", what, err)
		require.Contains(t, err.Error(), fmt.Sprintf("%q", subject), what)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s on %s: no permission violation", what, subject)
	}
}

// TestRealServerConfinesRuns: Debian's nats-server with docs/nats-run-permissions.conf;
// runs A and B train at once, each a coordinator and two workers as users of their own
// run. A client of run B can neither subscribe on nor publish to run A's subjects (the
// server says permission violation), but uses its own; both checkpoints are bit-identical
// to a one-process run's.
func TestRealServerConfinesRuns(t *testing.T) {
	srv := startRealServer(t)
	dir := t.TempDir()
	want := pcnetRun(t, trainArgs("pc", filepath.Join(dir, "one"), "-epochs", "1")...)
	require.Equal(t, 0, want.code, "stderr: %s", want.stderr)

	type run struct {
		id      string
		workers []*started
		coord   *started
	}
	var runs []*run
	for _, id := range []string{"run-a", "run-b"} {
		r := &run{id: id}
		for _, nodes := range []string{"0-1", "2-3"} {
			r.workers = append(r.workers, pcnetStart(t, append([]string{"worker", "-run", id, "-nodes", nodes}, srv.auth(id+"-worker")...)...))
		}
		r.coord = pcnetStart(t, trainArgs("pc", filepath.Join(dir, id), append([]string{"-epochs", "1", "-run", id, "-placement", "0-1,2-3", "-link-delay", "1ms"}, srv.auth(id+"-coordinator")...)...)...)
		runs = append(runs, r)
	}
	runs[0].coord.waitFor(t, "epoch 1/1  batch 2/10")

	// Run B's worker user, while run A trains.
	b, errs := srv.client(t, "run-b-worker")
	for _, subject := range []string{"pcnet.run-a.>", "pcnet.run-a.node.0.cmd", "pcnet.run-a.setup.1.link.1.up"} {
		_, err := b.SubscribeSync(subject)
		require.NoError(t, err, "the refusal comes from the server, asynchronously")
		require.NoError(t, b.Flush())
		requireViolation(t, errs, "subscribe", subject)
	}
	for _, subject := range []string{"pcnet.run-a.node.2.cmd", "pcnet.run-a.coordinator.beat", "pcnet.run-a.setup.1.link.1.down"} {
		require.NoError(t, b.Publish(subject, []byte("forged")))
		require.NoError(t, b.Flush())
		requireViolation(t, errs, "publish", subject)
	}
	// Its own run's subjects work: the server confines, it does not just refuse.
	own, err := b.SubscribeSync("pcnet.run-b.hostile-test")
	require.NoError(t, err)
	require.NoError(t, b.Publish("pcnet.run-b.hostile-test", []byte("mine")))
	msg, err := own.NextMsg(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "mine", string(msg.Data))
	select {
	case err := <-errs:
		t.Fatalf("an error on run B's own subject: %v", err)
	default:
	}

	for _, r := range runs {
		got := r.coord.wait()
		require.Equal(t, 0, got.code, "%s: stderr: %s", r.id, got.stderr)
		for _, w := range r.workers {
			res := w.wait()
			require.Equal(t, 0, res.code, "%s worker: stderr: %s", r.id, res.stderr)
		}
		require.Equal(t, losses(want.stdout), losses(got.stdout), r.id)
		requireSameCheckpoint(t, "in process", filepath.Join(dir, "one", "pc-H2.safetensors"), r.id, filepath.Join(dir, r.id, "pc-H2.safetensors"))
	}
	// A coordinator and a worker with another run's user stop at once (well within
	// -join-timeout), with one line that names the subject the server refused.
	wrong := pcnetRun(t, trainArgs("pc", filepath.Join(dir, "wrong"), append([]string{"-epochs", "1", "-run", "run-a", "-placement", "0-1,2-3", "-join-timeout", "50s"}, srv.auth("run-b-coordinator")...)...)...)
	require.Equal(t, 1, wrong.code, "stderr: %s", wrong.stderr)
	require.Regexp(t, `refused this user a subject of the run .*"pcnet\.run-a\.`, oneLine(t, wrong))
	wrong = pcnetRun(t, append([]string{"worker", "-run", "run-a", "-nodes", "0-1", "-join-timeout", "50s"}, srv.auth("run-b-worker")...)...)
	require.Equal(t, 1, wrong.code, "stderr: %s", wrong.stderr)
	require.Regexp(t, `refused this user a subject of the run .*"pcnet\.run-a\.`, oneLine(t, wrong))
}

// TestRealServerHung: the NATS server stopped (SIGSTOP) mid-run keeps its connections
// open but answers nothing: the coordinator and both workers exit with status 1 and one
// line that names the server as hung, none blaming a peer, within -timeout.
func TestRealServerHung(t *testing.T) {
	srv := startRealServer(t)
	t.Cleanup(func() { _ = syscall.Kill(srv.pid, syscall.SIGCONT) })
	var procs []*started
	for _, nodes := range []string{"0-1", "2-3"} {
		procs = append(procs, pcnetStart(t, append([]string{"worker", "-run", "run-a", "-nodes", nodes, "-timeout", "2s"}, srv.auth("run-a-worker")...)...))
	}
	coord := pcnetStart(t, trainArgs("fpa", t.TempDir(), append([]string{"-epochs", "3", "-run", "run-a", "-placement", "0-1,2-3", "-timeout", "2s", "-link-delay", "3ms"}, srv.auth("run-a-coordinator")...)...)...)
	procs = append(procs, coord)
	coord.waitFor(t, "epoch 1/3  batch 3/10")
	require.NoError(t, syscall.Kill(srv.pid, syscall.SIGSTOP))
	host := strings.TrimPrefix(srv.url, "nats://")
	for _, p := range procs {
		requireExited(t, p.cmd.Process.Pid, 2*time.Second+time.Second)
		r := p.wait()
		require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		require.Contains(t, oneLine(t, r), "NATS server "+host+" stopped answering")
	}
}
