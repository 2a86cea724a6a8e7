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

	"github.com/pcnet/pcnet/channels/natslink"
)

// One coordinator per run ID (docs/design.md §9). Before it subscribes to anything else
// or sends anything, a coordinator claims its run in two steps.
//
// It asks: a request on pcnet.<run>.claim carrying its claim (a random ID, its pid and
// host). Every coordinator of the run subscribes to that subject and answers a claim
// other than its own with its own, saying whether it holds the run (claimed) or is still
// claiming. So the first message on the claimant's inbox decides, with no wait of a
// fixed length: the server's "no responders" (nothing subscribed: no coordinator) lets
// it go on; an answer of a coordinator that holds the run, or of a claimant with a
// smaller ID, makes it fail at once naming that coordinator's pid and host. A
// subscriber that never answers (a stranger, or a holder that has hung) is waited for
// one heartbeat timeout, after which a living coordinator would have answered.
//
// It then subscribes to the claim subject itself, claims again, and listens for
// claimWindow before it holds the run: the window only settles two coordinators started
// at the same instant, both of which heard "no responders". Each subscribed before it
// claims again, and one server orders each client's operations, so whichever claims last
// finds the other subscribed; both then hear of each other (one by the claim, the other
// by its answer), and the larger ID yields. An answer later than the window (a server
// farther than that in round trips, or a cluster of servers whose subscription interest
// has not spread yet) is missed in that race only. Claims are not authenticated by the
// run key: a forged claim or answer can only make a coordinator refuse to start, never
// let one in.

// claimMsg is a claim and an answer to one.
type claimMsg struct {
	ID      coordID
	PID     int
	Host    string
	Claimed bool // an answer from the coordinator that holds the run
}

// maxClaim bounds a claim message; a larger one is dropped and counted.
const maxClaim = 1 << 10

func claimSubject(run string) string { return natslink.Subject(run, "claim") }

// claimWindowOf is how long a claimant listens for a simultaneous one: a tenth of the
// heartbeat timeout, within 50 ms to 1 s, far above a round trip through one server.
func claimWindowOf(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 50*time.Millisecond), time.Second)
}

// claimWaits are a claim's waits: for the first answer to its request (the heartbeat
// timeout) and for a simultaneous claimant (claimWindowOf).
type claimWaits struct{ answer, window time.Duration }

// claim is a coordinator's claim on its run: it answers other claims until release.
type claim struct {
	sub     *nats.Subscription
	claimed atomic.Bool
	peers   chan claimMsg // claimants heard by their claims while claiming

	once sync.Once
}

// claimRun claims run on nc for me, or returns an error naming the coordinator that
// holds it (or is claiming it first).
func claimRun(ctx context.Context, nc *nats.Conn, run string, me claimMsg, waits claimWaits, rej *rejections) (*claim, error) {
	c := &claim{peers: make(chan claimMsg, 16)}
	mine, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	failed := func(err error) error { return fmt.Errorf("cluster: run %s: claiming it: %w", run, err) }
	answers := make(chan *nats.Msg, 16)
	inbox := nc.NewRespInbox()
	isub, err := nc.ChanSubscribe(inbox, answers)
	if err != nil {
		return nil, failed(err)
	}
	defer func() { _ = isub.Unsubscribe() }()
	if err := nc.PublishRequest(claimSubject(run), inbox, mine); err != nil {
		return nil, failed(err)
	}
	if err := c.ask(ctx, run, me, answers, waits.answer, rej); err != nil {
		return nil, err
	}
	c.sub, err = nc.Subscribe(claimSubject(run), func(m *nats.Msg) { c.answer(nc, m, me, rej) })
	if err != nil {
		return nil, failed(err)
	}
	// Claims are rare and small: a flood of them is dropped, not queued. A dropped claim
	// is a claimant unanswered, who waits its answer wait and whose workers then take no
	// command of it: they were set up by this coordinator.
	if err := c.sub.SetPendingLimits(smallPending, smallPending*maxClaim); err != nil {
		c.release()
		return nil, failed(err)
	}
	if err := nc.PublishRequest(claimSubject(run), inbox, mine); err != nil {
		c.release()
		return nil, failed(err)
	}
	if err := c.settle(ctx, run, me, answers, waits.window, rej); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// ask reads the first answers to the claim: nil once the server says no one is
// subscribed, once a claimant that yields to me answered, or after wait without an
// answer; the error of a coordinator that holds the run or claims it first.
func (c *claim) ask(ctx context.Context, run string, me claimMsg, answers <-chan *nats.Msg, wait time.Duration, rej *rejections) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil // subscribed but silent: no living coordinator (see above)
		case m := <-answers:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				return nil // no responders: no coordinator of the run
			}
			p, ok := decodeClaim(m.Data, rej)
			if !ok || p.ID == me.ID {
				continue
			}
			if err := taken(run, me, p); err != nil {
				return err
			}
			return nil // a later claimant: it yields when it hears my claim
		}
	}
}

// settle listens for window for a claimant as early as me, then holds the run.
func (c *claim) settle(ctx context.Context, run string, me claimMsg, answers <-chan *nats.Msg, window time.Duration, rej *rejections) error {
	t := time.NewTimer(window)
	defer t.Stop()
	for {
		var p claimMsg
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			c.claimed.Store(true)
			return nil
		case p = <-c.peers:
		case m := <-answers:
			var ok bool
			if p, ok = decodeClaim(m.Data, rej); !ok {
				continue
			}
		}
		if err := taken(run, me, p); err != nil {
			return err
		}
	}
}

// taken is the error of the run held by p, or claimed by p first; nil when p yields to me.
func taken(run string, me, p claimMsg) error {
	if p.ID == me.ID || !p.Claimed && bytes.Compare(me.ID[:], p.ID[:]) < 0 {
		return nil
	}
	state := "holds it"
	if !p.Claimed {
		state = "is claiming it too, first"
	}
	return fmt.Errorf("cluster: run %s is taken: its coordinator, pid %d on %s, %s; give this run another ID", run, p.PID, p.Host, state)
}

// answer answers another coordinator's claim m with mine.
func (c *claim) answer(nc *nats.Conn, m *nats.Msg, me claimMsg, rej *rejections) {
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
