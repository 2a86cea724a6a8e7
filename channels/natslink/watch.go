package natslink

import "github.com/nats-io/nats.go"

// WatchConn calls lost once, from a goroutine of its own, when nc is
// disconnected or closed, or at once when it is not connected now; url is
// the server's as nc reached it (redacted; empty if nc never connected).
// stop ends the watch and waits for the goroutine; lost is not called after
// stop returns. It is the one watcher of a connection's loss: a Transport
// breaks its links through it, package cluster's coordinator and workers
// stop through it. The listener is in place when WatchConn returns, so a
// caller that checks nc.IsConnected() after it misses no loss.
func WatchConn(nc *nats.Conn, lost func(url string, s nats.Status)) (stop func()) {
	status := nc.StatusChanged(nats.DISCONNECTED, nats.CLOSED)
	url := nc.ConnectedUrlRedacted()
	done := make(chan struct{})
	go func() {
		defer close(done)
		reported := false
		report := func(s nats.Status) {
			if !reported {
				reported = true
				lost(url, s)
			}
		}
		if !nc.IsConnected() {
			report(nc.Status())
		}
		// Removing the listener closes status, which ends the loop.
		for s := range status {
			report(s)
		}
	}()
	return func() {
		nc.RemoveStatusListener(status)
		<-done
	}
}
