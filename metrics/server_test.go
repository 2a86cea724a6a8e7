package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// client keeps no idle connections, so no goroutine outlives a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestServe(t *testing.T) {
	m, reg := newTestMetrics(t, 4)
	m.SetEpoch(2)
	srv, err := Serve(context.Background(), "127.0.0.1:0", reg)
	require.NoError(t, err)
	base := "http://" + srv.Addr().String()

	tests := []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/metrics", 200, "pcnet_train_epoch 2\n"},
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/", 200, "/metrics"},
		{"GET", "/nothing", 404, ""},
		{"POST", "/metrics", 405, ""},
	}
	for _, tt := range tests {
		code, body := get(t, tt.method, base+tt.path)
		require.Equal(t, tt.code, code, "%s %s", tt.method, tt.path)
		require.Contains(t, body, tt.contains, "%s %s", tt.method, tt.path)
	}

	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "Close is idempotent")
	_, err = client.Get(base + "/healthz")
	require.Error(t, err, "the server is gone")
}

func TestServeStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Serve(ctx, "127.0.0.1:0", prometheus.NewRegistry())
	require.NoError(t, err)
	code, _ := get(t, "GET", "http://"+srv.Addr().String()+"/healthz")
	require.Equal(t, 200, code)
	cancel()
	<-srv.Done()
	require.NoError(t, srv.Close())
}

func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = Serve(context.Background(), ln.Addr().String(), prometheus.NewRegistry())
	require.ErrorContains(t, err, "metrics: listen on "+ln.Addr().String())
}

func TestServeRejects(t *testing.T) {
	_, err := Serve(context.Background(), "127.0.0.1:0", nil)
	require.ErrorContains(t, err, "needs a prometheus.Gatherer")
	_, err = Serve(context.Background(), "no-port", prometheus.NewRegistry())
	require.ErrorContains(t, err, "listen on no-port")
}
