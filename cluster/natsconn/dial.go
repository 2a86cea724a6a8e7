package natsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Secret is a credential taken from exactly one place: Value (for programs,
// such as the token of an [Embedded] server), File (its content, trailing
// newline trimmed) or Env (the name of an environment variable). A command
// line takes File or Env, so that a secret never has to appear in a process
// list or a shell history. The zero Secret is unset.
type Secret struct {
	Value, File, Env string
}

// IsSet reports whether the secret names a source.
func (s Secret) IsSet() bool { return s.Value != "" || s.File != "" || s.Env != "" }

// Resolve returns the secret's value; what names the secret in errors.
func (s Secret) Resolve(what string) (string, error) {
	n := 0
	for _, src := range []string{s.Value, s.File, s.Env} {
		if src != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return "", fmt.Errorf("natsconn: %s: no value, file or environment variable given", what)
	case n > 1:
		return "", fmt.Errorf("natsconn: %s: give one of a value, a file or an environment variable, not %d", what, n)
	case s.Value != "":
		return s.Value, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("natsconn: %s: %w", what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("natsconn: %s: file %s is empty", what, s.File)
		}
		return v, nil
	}
	v, ok := os.LookupEnv(s.Env)
	if !ok || v == "" {
		return "", fmt.Errorf("natsconn: %s: environment variable %s is not set or empty", what, s.Env)
	}
	return v, nil
}

// ClientOptions say how to reach and authenticate to a NATS server or
// cluster. At most one of Token, User (with Password), NKeySeedFile and
// CredsFile authenticates the client; TLS is used when any of CAFile,
// CertFile and KeyFile is set (a client certificate needs both of the
// latter).
type ClientOptions struct {
	URL  string // nats://host:port, tls://host:port, or a comma-separated list of them
	Name string // the connection's name, shown by the server's monitoring

	Token        Secret
	User         string
	Password     Secret
	NKeySeedFile string // a file holding an nkey seed (SU...)
	CredsFile    string // a NATS .creds file (user JWT and seed)

	CAFile, CertFile, KeyFile string

	// HungAfter: a server that answers no ping for about this long counts as
	// hung, and the connection closes (0: nats.go's default, two minutes of
	// pings). A hung server keeps its TCP connections open, so without pings
	// its clients would see only their peers' silence and blame the peers;
	// [Lost] names the server instead. Dial pings every HungAfter/3 and
	// gives up after two pings without an answer.
	HungAfter time.Duration

	// InboxPrefix replaces nats.go's _INBOX as the prefix of the connection's
	// reply subjects ("": _INBOX). A server that confines a run's users to
	// pcnet.<run>.> confines their requests' replies too when the prefix is
	// under it (pcnet.<run>.inbox), with no _INBOX.> that every user could
	// read.
	InboxPrefix string
}

// ErrURLUserInfo is the error of a server URL that carries user information
// (nats://user:password@host or nats://token@host): a secret in a URL shows
// in process lists, shell histories and every message that names the
// server, so it is refused; give ClientOptions.Token or User and Password.
var ErrURLUserInfo = errors.New("natsconn: a server URL carries user information (user:password@ or token@)")

// CheckURL checks a server URL or comma-separated list of them before any
// connection: each is a URL (nats://, tls://, ws:// or wss://, or host:port)
// without user information. Its errors never repeat the URL, which may hold
// a secret.
func CheckURL(urls string) error {
	if strings.TrimSpace(urls) == "" {
		return errors.New("natsconn: no NATS server URL")
	}
	for i, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if !strings.Contains(raw, "://") {
			raw = "nats://" + raw // nats.go takes host:port as nats://host:port
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "":
			return fmt.Errorf("natsconn: server URL %d of the list is not a URL such as nats://host:4222 (not shown: it may hold a secret)", i+1)
		case u.User != nil:
			return fmt.Errorf("%w: URL %d of the list", ErrURLUserInfo, i+1)
		}
	}
	return nil
}

// HungError is the end of a connection whose server stopped answering pings
// (see ClientOptions.HungAfter) while its TCP connection stayed open.
type HungError struct {
	Server string        // host:port
	After  time.Duration // how long it went without answering
}

func (e *HungError) Error() string {
	return fmt.Sprintf("NATS server %s stopped answering (no reply to pings for %v)", e.Server, e.After)
}

// Lost describes the end of nc's connection, as natslink.WatchConn reports
// it (serverURL: the server's redacted URL, s: the status): a subject the
// server refused the user (a connection of [Dial] closes on it), a
// *HungError when the server stopped answering pings, else the lost
// connection. The line names
// the server by host and port, never with user information.
func Lost(nc *nats.Conn, serverURL string, s nats.Status) error {
	server := hostOf(serverURL)
	if err := refused(nc, server); err != nil {
		return err
	}
	if errors.Is(nc.LastError(), nats.ErrStaleConnection) {
		after := time.Duration(nc.Opts.MaxPingsOut+1) * nc.Opts.PingInterval
		return &HungError{Server: server, After: after.Round(time.Millisecond)}
	}
	if server == "" {
		return fmt.Errorf("the connection to the NATS server is %v", s)
	}
	return fmt.Errorf("lost the connection to the NATS server %s (%v)", server, s)
}

// Refused is the error of a connection of [Dial] that the server refused a
// subject (and that closed on it), nil for any other: a failed publish or a
// silent peer that follows it is only its consequence, so a caller reports
// this instead.
func Refused(nc *nats.Conn) error { return refused(nc, hostOf(nc.ConnectedUrlRedacted())) }

// refused is Refused naming the server as server (host:port; "": unknown, as
// it is once the connection has closed).
func refused(nc *nats.Conn, server string) error {
	last := nc.LastError()
	if !errors.Is(last, nats.ErrPermissionViolation) {
		return nil
	}
	if server != "" {
		server = " " + server
	}
	return fmt.Errorf("the NATS server%s refused this user a subject of the run (%v): see the server's permissions", server, last)
}

// hostOf is the host:port of a server URL, "" when it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// Dial connects with o, giving up when ctx is done. The connection does not
// reconnect: channels/natslink breaks its links when the connection is lost,
// so a reconnect could not resume them. The caller owns the connection and
// closes it after the transports on it.
func Dial(ctx context.Context, o ClientOptions) (*nats.Conn, error) {
	if err := CheckURL(o.URL); err != nil {
		return nil, err
	}
	if o.HungAfter < 0 {
		return nil, fmt.Errorf("natsconn: HungAfter %v is negative", o.HungAfter)
	}
	opts := []nats.Option{nats.NoReconnect(), nats.SetCustomDialer(ctxDialer{ctx}),
		// nats.go's default prints asynchronous errors to stderr, a second line beside
		// the run's own: a lost connection reaches the transports and package cluster
		// through the connection's status, and a slow consumer through Dropped.
		nats.ErrorHandler(onAsyncError)}
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	if o.HungAfter > 0 {
		// Two unanswered pings, then the third tick closes: about HungAfter.
		opts = append(opts, nats.PingInterval(max(o.HungAfter/3, time.Millisecond)), nats.MaxPingsOutstanding(2))
	}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(deadline)))
	}
	auths := 0
	if o.Token.IsSet() {
		auths++
		token, err := o.Token.Resolve("NATS token")
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(token))
	}
	if o.User != "" || o.Password.IsSet() {
		auths++
		if o.User == "" {
			return nil, errors.New("natsconn: a NATS password without a user")
		}
		password, err := o.Password.Resolve("NATS password of user " + o.User)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(o.User, password))
	}
	if o.NKeySeedFile != "" {
		auths++
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("natsconn: nkey seed file %s: %w", o.NKeySeedFile, err)
		}
		opts = append(opts, opt)
	}
	if o.CredsFile != "" {
		auths++
		if _, err := os.Stat(o.CredsFile); err != nil {
			return nil, fmt.Errorf("natsconn: creds file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if auths > 1 {
		return nil, fmt.Errorf("natsconn: %d ways to authenticate given (token, user/password, nkey, creds); give one", auths)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("natsconn: a TLS client certificate needs both a cert file and a key file")
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	if o.CAFile != "" || o.CertFile != "" {
		opts = append(opts, nats.Secure())
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsconn: connect to %s: %w", o.URL, err)
	}
	return nc, nil
}

// onAsyncError handles nats.go's asynchronous errors. A permissions violation
// closes the connection: a pcnet process uses only its run's subjects, so a
// refused one means that its user may not take part, and waiting would only
// turn that into a peer's silence later; [Lost] then says what was refused.
// Every other error reaches the owner as the connection's status (a lost
// connection) or as Dropped (a slow consumer); nats.go's default would print
// a second line beside the run's own.
func onAsyncError(nc *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		nc.Close()
	}
}

// DialEmbedded connects to an embedded server with its token.
func DialEmbedded(ctx context.Context, e *Embedded, name string) (*nats.Conn, error) {
	return Dial(ctx, ClientOptions{URL: e.URL, Name: name, Token: Secret{Value: e.Token}})
}

// ctxDialer makes nats.go's TCP dial give up when ctx is done.
type ctxDialer struct{ ctx context.Context }

func (d ctxDialer) Dial(network, address string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(d.ctx, network, address)
}
