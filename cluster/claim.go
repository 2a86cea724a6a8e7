package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// One coordinator per run ID (docs/design.md §9). Before it subscribes to anything else
// or sends anything, a coordinator claims its run: it subscribes to
// pcnet.<run>.claim, publishes its claim there (a random ID, its pid and host) with a
// reply inbox, and listens for claimWindow. Every coordinator of the run answers a
// claim other than its own with its own, saying whether it holds the run (claimed) or is
// still claiming. A claimant gives up at once when it hears of a coordinator that holds
// the run, or of another claimant with a smaller ID; otherwise it holds the run when
// the window ends.
//
// The race of two claimants is closed by the order in which one server handles each
// client's operations: each subscribes before it publishes, so whichever publishes
// last finds the other subscribed, and both then hear of each other (one by the claim,
// the other by its answer), and the larger ID yields. What remains is the window: an
// answer later than claimWindow (a server farther than that in round trips, or a
// cluster of servers whose subscription interest has not spread yet) is missed. Claims
// are not authenticated by the run key: a forged claim or answer can only make a
// coordinator refuse to start, never let one in.

// claimMsg is a claim and an answer to one.
type claimMsg struct {
	ID      coordID
	PID     int
	Host    string
	Claimed bool // an answer from the coordinator that holds the run
}

// maxClaim bounds a claim message; a larger one is dropped and counted.
const maxClaim = 1 << 10

func claimSubject(run string) string { return "pcnet." + run + ".claim" }

// claimWindowOf is how long a claimant listens: a tenth of the heartbeat timeout, within
// 50 ms to 1 s, far above a round trip through one server.
func claimWindowOf(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 50*time.Millisecond), time.Second)
}

// claim is a coordinator's claim on its run: it answers other claims until release.
type claim struct {
	sub     *nats.Subscription
	claimed atomic.Bool
	peers   chan claimMsg // claimants heard by their claims while claiming

	once sync.Once
}

// claimRun claims run on nc for me, or returns an error naming the coordinator that
// holds it (or is claiming it first).
func claimRun(ctx context.Context, nc *nats.Conn, run string, me claimMsg, window time.Duration, rej *rejections) (*claim, error) {
	c := &claim{peers: make(chan claimMsg, 16)}
	mine, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	answers := make(chan *nats.Msg, 16)
	inbox := nc.NewRespInbox()
	isub, err := nc.ChanSubscribe(inbox, answers)
	if err != nil {
		return nil, fmt.Errorf("cluster: run %s: claiming it: %w", run, err)
	}
	defer func() { _ = isub.Unsubscribe() }()
	c.sub, err = nc.Subscribe(claimSubject(run), func(m *nats.Msg) {
		p, ok := decodeClaim(m.Data, rej)
		if !ok || p.ID == me.ID || m.Reply == "" {
			return
		}
		if !c.claimed.Load() {
			select {
			case c.peers <- p:
			default: // enough peers heard to decide
			}
		}
		ans := me
		ans.Claimed = c.claimed.Load()
		b, _ := json.Marshal(ans)
		_ = nc.Publish(m.Reply, b)
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: run %s: claiming it: %w", run, err)
	}
	if err := nc.PublishRequest(claimSubject(run), inbox, mine); err != nil {
		c.release()
		return nil, fmt.Errorf("cluster: run %s: claiming it: %w", run, err)
	}
	t := time.NewTimer(window)
	defer t.Stop()
	for {
		var p claimMsg
		select {
		case <-ctx.Done():
			c.release()
			return nil, ctx.Err()
		case <-t.C:
			c.claimed.Store(true)
			return c, nil
		case p = <-c.peers:
		case m := <-answers:
			var ok bool
			if p, ok = decodeClaim(m.Data, rej); !ok {
				continue
			}
		}
		if p.ID == me.ID || !p.Claimed && bytes.Compare(me.ID[:], p.ID[:]) < 0 {
			continue // the other claimant yields
		}
		c.release()
		state := "holds it"
		if !p.Claimed {
			state = "is claiming it too, first"
		}
		return nil, fmt.Errorf("cluster: run %s is taken: its coordinator, pid %d on %s, %s; give this run another ID", run, p.PID, p.Host, state)
	}
}

func decodeClaim(b []byte, rej *rejections) (claimMsg, bool) {
	var p claimMsg
	if len(b) > maxClaim || json.Unmarshal(b, &p) != nil || p.ID.isZero() {
		rej.add(rejClaim, reasonMalformed)
		return p, false
	}
	return p, true
}

// release gives the run up: the claim no longer answers.
func (c *claim) release() {
	c.once.Do(func() { _ = c.sub.Unsubscribe() })
}
