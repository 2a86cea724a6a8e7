package natsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
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
}

// Dial connects with o, giving up when ctx is done. The connection does not
// reconnect: channels/natslink breaks its links when the connection is lost,
// so a reconnect could not resume them. The caller owns the connection and
// closes it after the transports on it.
func Dial(ctx context.Context, o ClientOptions) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("natsconn: no NATS server URL")
	}
	opts := []nats.Option{nats.NoReconnect(), nats.SetCustomDialer(ctxDialer{ctx}),
		// nats.go's default prints asynchronous errors to stderr, a second line beside
		// the run's own: a lost connection reaches the transports and package cluster
		// through the connection's status, and a slow consumer through Dropped.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
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
