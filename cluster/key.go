package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/cluster/natsconn"
)

// KeySize is the length of a run key: the secret that only a run's processes hold and
// that authenticates their messages (docs/design.md §9).
const KeySize = 32

// KeyEnv is the environment variable through which a local run hands its workers the
// run key, hex-encoded (never on a command line), as it hands them the token in TokenEnv.
const KeyEnv = "PCNET_RUN_KEY"

// NewKey returns a fresh random run key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("cluster: making a run key: %w", err)
	}
	return k, nil
}

// EncodeKey writes a run key as LoadKey reads it: 64 hex digits.
func EncodeKey(k []byte) string { return hex.EncodeToString(k) }

// LoadKey reads a run key (64 hex digits) from s: a file or an environment variable, as
// the NATS secrets are.
func LoadKey(s natsconn.Secret) ([]byte, error) {
	v, err := s.Resolve("run key")
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	k, err := hex.DecodeString(v)
	if err != nil || len(k) != KeySize {
		// The value is a secret: the error names its length, never its content.
		return nil, fmt.Errorf("cluster: run key: want %d hex digits, got %d characters that are not", 2*KeySize, len(v))
	}
	return k, nil
}

func checkKey(k []byte) error {
	if len(k) != KeySize {
		return fmt.Errorf("cluster: run key of %d bytes; need %d (NewKey, LoadKey)", len(k), KeySize)
	}
	return nil
}

// Heartbeats are authenticated here, not in natslink's frames: a beat is its sender's
// counter (8 bytes, big-endian) and the first beatMACSize bytes of HMAC-SHA256 under the
// run key of the subject and the counter. A receiver takes a beat only with a valid MAC
// and a counter above the last it took, so that a client without the key can neither
// forge one nor replay one it saw, and a dead peer cannot be kept alive.
const (
	beatMACSize = 16
	beatSize    = 8 + beatMACSize
)

func beatMAC(key []byte, subject string, n uint64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(subject))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	m.Write(b[:])
	return m.Sum(nil)[:beatMACSize]
}

// signBeat makes the beat numbered n on subject.
func signBeat(key []byte, subject string, n uint64) []byte {
	b := make([]byte, 8, beatSize)
	binary.BigEndian.PutUint64(b, n)
	return append(b, beatMAC(key, subject, n)...)
}

// beatChecker checks the beats of one subject. Only its subscription's callback uses it
// (NATS calls one subscription's callbacks one at a time).
type beatChecker struct {
	key     []byte
	subject string
	last    uint64
	rej     *rejections
}

// check reports whether beat is authentic and new; it counts a rejected one.
func (c *beatChecker) check(beat []byte) bool {
	switch {
	case len(beat) != beatSize:
		c.rej.add(rejBeat, reasonMalformed)
		return false
	case !hmac.Equal(beat[8:], beatMAC(c.key, c.subject, binary.BigEndian.Uint64(beat))):
		c.rej.add(rejBeat, reasonMAC)
		return false
	}
	n := binary.BigEndian.Uint64(beat)
	if n <= c.last {
		c.rej.add(rejBeat, reasonReplay)
		return false
	}
	c.last = n
	return true
}

// What a rejected message was, and why it was rejected: the labels of
// pcnet_rejected_messages_total.
const (
	rejBeat    = "heartbeat"
	rejCommand = "command"
	rejReport  = "report"
	rejClaim   = "claim"

	reasonMAC       = "mac"
	reasonReplay    = "replay"
	reasonMalformed = "malformed"
	reasonForeign   = "foreign coordinator"
)

// Rejected is a count of messages dropped by one process, by kind and reason.
type Rejected struct {
	Kind, Reason string
	N            uint64
}

// rejections counts the messages a process drops; safe for concurrent use. The frames
// that natslink's readers drop (a bad MAC, a replay, ...) are counted in frames, whose
// cumulative counts take turns into the same since-the-last-take form.
type rejections struct {
	mu sync.Mutex
	n  map[[2]string]uint64
	// frames are natslink's counts of the frames its readers and links dropped (a MAC
	// that fails, a replay), folded into n by take.
	frames []*frameRejects
}

// frameRejects is one natslink count and what take has already folded of it.
type frameRejects struct {
	kind string // the kind its drops count as; "": natslink's own (data, credit, message)
	r    *natslink.Rejects
	seen map[[2]string]uint64
}

// counter returns a natslink count whose dropped frames r counts as kind ("": as
// natslink names them).
func (r *rejections) counter(kind string) *natslink.Rejects {
	f := &frameRejects{kind: kind, r: natslink.NewRejects(nil), seen: map[[2]string]uint64{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, f)
	return f.r
}

func (r *rejections) add(kind, reason string) { r.addN(kind, reason, 1) }

func (r *rejections) addN(kind, reason string, n uint64) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[[2]string]uint64{}
	}
	r.n[[2]string{kind, reason}] += n
}

// take returns the counts since the last take, in a fixed order, and resets them.
func (r *rejections) take() []Rejected {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.frames {
		for _, c := range f.r.Counts() {
			kind := f.kind
			if kind == "" {
				kind = c.Kind
			}
			k := [2]string{c.Kind, c.Reason}
			if d := c.Count - f.seen[k]; d > 0 {
				if r.n == nil {
					r.n = map[[2]string]uint64{}
				}
				r.n[[2]string{kind, c.Reason}] += d
				f.seen[k] = c.Count
			}
		}
	}
	var out []Rejected
	for k, n := range r.n {
		out = append(out, Rejected{Kind: k[0], Reason: k[1], N: n})
	}
	r.n = nil
	sort.Slice(out, func(i, j int) bool {
		return out[i].Kind < out[j].Kind || out[i].Kind == out[j].Kind && out[i].Reason < out[j].Reason
	})
	return out
}
