package natsconn

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer starts an embedded server that the test shuts down.
func startServer(t testing.TB, c Server) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := c.Start(ctx)
	require.NoError(t, err)
	t.Cleanup(e.Shutdown)
	return e
}

// TestStartCluster: the members of an embedded cluster share one token, and a message
// published on one member reaches a subscriber on another.
func TestStartCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	members, err := Server{}.StartCluster(ctx, 3)
	require.NoError(t, err)
	defer func() {
		for _, m := range members {
			m.Shutdown()
		}
	}()
	require.Len(t, members, 3)
	for _, m := range members {
		require.Equal(t, members[0].Token, m.Token)
		require.Regexp(t, `^nats-route://pcnet-route:[0-9a-f]{32}@127\.0\.0\.1:\d+$`, m.RouteURL)
	}
	a, err := DialEmbedded(ctx, members[1], "a")
	require.NoError(t, err)
	defer a.Close()
	b, err := DialEmbedded(ctx, members[2], "b")
	require.NoError(t, err)
	defer b.Close()
	sub, err := b.SubscribeSync("x")
	require.NoError(t, err)
	require.NoError(t, b.Flush())
	// Interest crosses the routes asynchronously: publish until the message arrives.
	require.Eventually(t, func() bool {
		if a.Publish("x", []byte("hi")) != nil {
			return false
		}
		m, err := sub.NextMsg(10 * time.Millisecond)
		return err == nil && string(m.Data) == "hi"
	}, 10*time.Second, time.Millisecond)
}

func TestServerRejects(t *testing.T) {
	ctx := context.Background()
	_, err := Server{MaxPayload: -1}.Start(ctx)
	require.EqualError(t, err, "natsconn: embedded server max payload -1 is negative")
	_, err = Server{}.StartCluster(ctx, 0)
	require.EqualError(t, err, "natsconn: a cluster of 0 servers; need at least 1")
}
