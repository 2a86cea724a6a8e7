package natsconn

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
		userInfo           bool
	}{
		{"nats", "nats://127.0.0.1:4222", "", false},
		{"host:port", "127.0.0.1:4222", "", false},
		{"list", "nats://a:4222, tls://b:4222", "", false},
		{"empty", " ", "natsconn: no NATS server URL", false},
		{"user and password", "nats://pc:s3cret@127.0.0.1:4222", "URL 1 of the list", true},
		{"token", "nats://t0ken@127.0.0.1:4222", "URL 1 of the list", true},
		{"second of a list", "nats://a:4222,nats://pc:s3cret@b:4222", "URL 2 of the list", true},
		{"no host", "nats://", "server URL 1 of the list is not a URL", false},
		{"unparsable", "nats://pc:s3cret@[::1", "server URL 1 of the list is not a URL", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckURL(tc.url)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.Equal(t, tc.userInfo, errors.Is(err, ErrURLUserInfo))
			require.NotContains(t, err.Error(), "s3cret", "an error never repeats a secret")
			require.NotContains(t, err.Error(), "t0ken")
		})
	}
}

// TestDialRefusesUserInfo: a URL with a password is refused before any connection, and
// the error does not hold the password.
func TestDialRefusesUserInfo(t *testing.T) {
	srv := startServer(t, Server{})
	withPassword := "nats://pc:s3cret@" + srv.URL[len("nats://"):]
	err := dialCheck(t, ClientOptions{URL: withPassword, Token: Secret{Value: srv.Token}})
	require.ErrorIs(t, err, ErrURLUserInfo)
	require.NotContains(t, err.Error(), "s3cret")
	_, err = Dial(context.Background(), ClientOptions{URL: srv.URL, HungAfter: -time.Second})
	require.EqualError(t, err, "natsconn: HungAfter -1s is negative")
}

// freezer is a TCP proxy to a server that can stop forwarding in both directions while
// keeping the connections open: a hung server, as its clients see it.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, target: target}
	f.wg.Go(f.accept)
	t.Cleanup(f.close)
	return f
}

func (f *freezer) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, s)
		f.mu.Unlock()
		f.wg.Go(func() { f.pipe(s, c) })
		f.wg.Go(func() { f.pipe(c, s) })
	}
}

// pipe copies from src to dst until either closes; once frozen it reads and drops.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if n > 0 && !frozen {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *freezer) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// TestHungServerNamed: a server that stops answering while its TCP connection stays
// open closes the connection after about HungAfter, and Lost names the server as hung;
// a server that shuts down is a lost connection.
func TestHungServerNamed(t *testing.T) {
	srv := startServer(t, Server{})
	proxy := newFreezer(t, srv.URL[len("nats://"):])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := Dial(ctx, ClientOptions{URL: "nats://" + proxy.ln.Addr().String(), Token: Secret{Value: srv.Token}, HungAfter: 300 * time.Millisecond})
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.Flush())
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	url := nc.ConnectedUrlRedacted()
	proxy.freeze()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("a hung server was never detected")
	}
	err = Lost(nc, url, nats.CLOSED)
	var hung *HungError
	require.ErrorAs(t, err, &hung)
	require.Equal(t, proxy.ln.Addr().String(), hung.Server)
	require.EqualError(t, err, "NATS server "+proxy.ln.Addr().String()+" stopped answering (no reply to pings for 300ms)")

	other := startServer(t, Server{})
	nc2, err := DialEmbedded(ctx, other, "gone")
	require.NoError(t, err)
	defer nc2.Close()
	url2 := nc2.ConnectedUrlRedacted()
	other.Shutdown()
	require.EqualError(t, Lost(nc2, url2, nats.DISCONNECTED), "lost the connection to the NATS server "+url2[len("nats://"):]+" (DISCONNECTED)")
	require.EqualError(t, Lost(nc2, "", nats.CLOSED), "the connection to the NATS server is CLOSED")
}

// TestPermissionViolationCloses: a subject the server refuses the user closes a
// connection of Dial at once, and Lost names what was refused.
func TestPermissionViolationCloses(t *testing.T) {
	url := startRaw(t, &server.Options{Users: []*server.User{{Username: "a", Password: "pw", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"pcnet.a.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"pcnet.a.>"}},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, trespass := range []func(nc *nats.Conn) error{
		func(nc *nats.Conn) error { _, err := nc.SubscribeSync("pcnet.b.node.0.cmd"); return err },
		func(nc *nats.Conn) error { return nc.Publish("pcnet.b.node.0.cmd", []byte("x")) },
	} {
		nc, err := Dial(ctx, ClientOptions{URL: url, User: "a", Password: Secret{Value: "pw"}})
		require.NoError(t, err)
		closed := make(chan struct{})
		nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		serverURL := nc.ConnectedUrlRedacted()
		_, err = nc.SubscribeSync("pcnet.a.node.0.cmd")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		require.True(t, nc.IsConnected(), "its own subjects are allowed")
		require.NoError(t, Refused(nc))
		require.NoError(t, trespass(nc))
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatal("a refused subject did not close the connection")
		}
		err = Lost(nc, serverURL, nats.CLOSED)
		require.ErrorContains(t, err, "the NATS server "+serverURL[len("nats://"):]+" refused this user a subject of the run")
		require.ErrorContains(t, err, `"pcnet.b.node.0.cmd"`)
		require.ErrorContains(t, Refused(nc), "the NATS server refused this user a subject of the run", "closed: the server's address is gone")
	}
}

// TestInboxPrefix: with its inboxes under the run's subjects, a user confined to them
// gets the replies to its requests; with nats.go's _INBOX it is refused.
func TestInboxPrefix(t *testing.T) {
	perm := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"pcnet.a.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"pcnet.a.>"}},
	}
	url := startRaw(t, &server.Options{Users: []*server.User{{Username: "a", Password: "pw", Permissions: perm}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := ClientOptions{URL: url, User: "a", Password: Secret{Value: "pw"}, InboxPrefix: "pcnet.a.inbox"}
	responder, err := Dial(ctx, o)
	require.NoError(t, err)
	defer responder.Close()
	_, err = responder.Subscribe("pcnet.a.claim", func(m *nats.Msg) { _ = m.Respond([]byte("held")) })
	require.NoError(t, err)
	require.NoError(t, responder.Flush())

	nc, err := Dial(ctx, o)
	require.NoError(t, err)
	defer nc.Close()
	reply, err := nc.Request("pcnet.a.claim", nil, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "held", string(reply.Data))

	o.InboxPrefix = ""
	plain, err := Dial(ctx, o)
	require.NoError(t, err)
	defer plain.Close()
	_, err = plain.Request("pcnet.a.claim", nil, 5*time.Second)
	require.Error(t, err, "the _INBOX reply subject is refused")
}
