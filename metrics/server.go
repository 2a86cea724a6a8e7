package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownGrace is how long Close waits for scrapes in flight before cutting them off.
const shutdownGrace = 5 * time.Second

// Server serves a Gatherer over HTTP:
//
//	/metrics  the exposition, for Prometheus to scrape
//	/healthz  200 "ok" while the server runs
//
// It runs from Serve until its context is done or Close is called.
type Server struct {
	addr net.Addr
	stop chan struct{}
	done chan struct{}
	err  error // set before done is closed

	stopOnce sync.Once
}

// Serve listens on addr (host:port; "" means DefaultAddr, port 0 picks a free one) and
// serves g there until ctx is done or Close is called. It listens before it returns, so
// an address in use is an error here, naming the address, not a failure later.
func Serve(ctx context.Context, addr string, g prometheus.Gatherer) (*Server, error) {
	if g == nil {
		return nil, errors.New("metrics: Serve needs a prometheus.Gatherer (the registry given to New)")
	}
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(g), ReadHeaderTimeout: 10 * time.Second}
	s := &Server{addr: ln.Addr(), stop: make(chan struct{}), done: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go func() {
		defer close(s.done)
		select {
		case <-ctx.Done():
		case <-s.stop:
		case err := <-served:
			// Serve gave up on its own (the listener failed): nothing left to shut down.
			s.err = fmt.Errorf("metrics: serve on %s: %w", s.addr, err)
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = fmt.Errorf("metrics: serve on %s: %w", s.addr, err)
		}
	}()
	return s, nil
}

// Handler returns the server's routes for g, for callers that run their own http.Server.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "pcnet metrics: /metrics (Prometheus exposition), /healthz\n")
	})
	return mux
}

// Addr returns the address the server listens on, with the port it got for ":0".
func (s *Server) Addr() net.Addr { return s.addr }

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close shuts the server down, letting scrapes in flight finish for a few seconds, and
// waits for it. It returns the error that stopped the server, if any; it may be called
// any number of times, from any goroutine, also after the context is done.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.err
}
