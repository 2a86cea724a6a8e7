package natsconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server configures an embedded NATS server for one machine and for tests.
// The zero value is a lone server with NATS's default max payload (1 MiB).
// It always listens on 127.0.0.1 only, on a random port, and requires a
// random token that [Server.Start] generates for each start.
type Server struct {
	// MaxPayload overrides the server's max payload in bytes (0: 1 MiB).
	// Messages beyond it are chunked by the transport, so it only changes how
	// many frames a large message takes.
	MaxPayload int32
}

// Embedded is a running embedded server. Its owner calls Shutdown.
type Embedded struct {
	URL   string // nats://127.0.0.1:port
	Token string // required by the server from every client

	// RouteURL is where other cluster members route to (with the cluster's
	// credentials); empty for a lone server.
	RouteURL string

	srv *server.Server
}

// Start starts the server and waits until it accepts connections or ctx is
// done.
func (c Server) Start(ctx context.Context) (*Embedded, error) {
	token, err := randomSecret()
	if err != nil {
		return nil, err
	}
	return c.start(ctx, token, nil)
}

// cluster is the route configuration of one member of an embedded cluster.
type cluster struct {
	name, user, password string
	seed                 *url.URL // route to this member, nil for the seed itself
}

func (c Server) start(ctx context.Context, token string, cl *cluster) (*Embedded, error) {
	if c.MaxPayload < 0 {
		return nil, fmt.Errorf("natsconn: embedded server max payload %d is negative", c.MaxPayload)
	}
	opts := &server.Options{
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: token,
		MaxPayload:    c.MaxPayload,
		NoLog:         true,
		NoSigs:        true,
	}
	if cl != nil {
		opts.Cluster = server.ClusterOpts{
			Name:     cl.name,
			Host:     "127.0.0.1",
			Port:     server.RANDOM_PORT,
			Username: cl.user,
			Password: cl.password,
		}
		if cl.seed != nil {
			opts.Routes = []*url.URL{cl.seed}
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsconn: embedded server: %w", err)
	}
	srv.Start()
	e := &Embedded{URL: srv.ClientURL(), Token: token, srv: srv}
	if err := waitFor(ctx, func() bool { return srv.ReadyForConnections(10 * time.Millisecond) }); err != nil {
		e.Shutdown()
		return nil, fmt.Errorf("natsconn: embedded server not ready: %w", err)
	}
	if cl != nil {
		addr := srv.ClusterAddr()
		if addr == nil {
			e.Shutdown()
			return nil, errors.New("natsconn: embedded server has no route listener")
		}
		e.RouteURL = (&url.URL{Scheme: "nats-route", User: url.UserPassword(cl.user, cl.password), Host: addr.String()}).String()
	}
	return e, nil
}

// Shutdown stops the server and waits until it has stopped. It may be called
// more than once.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// StartCluster starts n embedded servers on 127.0.0.1 joined into one cluster
// by routes (each routes to the first; NATS's gossip completes the mesh), with
// one client token and one random route password for all, and waits until
// every member routes to every other. The caller owns the shutdown of every
// member; on error none is left running.
func (c Server) StartCluster(ctx context.Context, n int) ([]*Embedded, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsconn: a cluster of %d servers; need at least 1", n)
	}
	token, err := randomSecret()
	if err != nil {
		return nil, err
	}
	password, err := randomSecret()
	if err != nil {
		return nil, err
	}
	name, err := randomSecret()
	if err != nil {
		return nil, err
	}
	cl := cluster{name: "pcnet-" + name[:8], user: "pcnet-route", password: password}
	var members []*Embedded
	stop := func() {
		for _, e := range members {
			e.Shutdown()
		}
	}
	for i := range n {
		if i > 0 {
			seed, err := url.Parse(members[0].RouteURL)
			if err != nil {
				stop()
				return nil, err
			}
			cl.seed = seed
		}
		e, err := c.start(ctx, token, &cl)
		if err != nil {
			stop()
			return nil, err
		}
		members = append(members, e)
	}
	meshed := func() bool {
		for _, e := range members {
			if e.srv.NumRemotes() != n-1 {
				return false
			}
		}
		return true
	}
	if err := waitFor(ctx, meshed); err != nil {
		stop()
		return nil, fmt.Errorf("natsconn: embedded cluster of %d not meshed: %w", n, err)
	}
	return members, nil
}

// waitFor polls cond every millisecond until it holds or ctx is done.
func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// randomSecret is 128 random bits in hex.
func randomSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("natsconn: random secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
