package natslink

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pcnet/pcnet/internal/gmac"
)

// Frames of a run with a key are authenticated by AES-GMAC (AES-256-GCM
// with an empty plaintext: the frame is its additional data) under a key of
// each publisher's own, derived from the run's key, a random salt the
// publisher draws when it starts and the subject it publishes on:
//
//	subkey = HMAC-SHA256(run key, "pcnet natslink gmac v1" 0x00 || salt || subject)
//
// The frame carries a trailer after its body:
//
//	off      size field
//	n         16 salt
//	n+16       8 counter: frames this publisher sealed before, little-endian
//	n+24      16 GMAC tag of the frame's bytes 0 to n+24 (header, body,
//	             salt, counter); nonce = counter (8 bytes LE) || 4 zero bytes
//
// where n = 72 + the header's body length. GMAC was measured 3 to 4 times
// faster than HMAC-SHA256 and 7 times faster than keyed BLAKE2b on a 512 KiB
// frame (BenchmarkMAC; docs/design.md §9), with crypto/cipher's GCM. The
// tags are computed by internal/gmac: bit for bit those of crypto/cipher's
// AES-256-GCM Seal(nil, nonce, nil, frame), so peers that use the stdlib's
// GCM interoperate (TestStdlibGCMInteroperates), with GHASH on AVX-512
// VPCLMULQDQ where the CPU has it, about 3 times the stdlib's speed
// (BenchmarkMAC's gmac-vpclmul row: 24.2 against 7.4 GB/s at width 1024,
// medians on a quiet 2-core AMD EPYC), and the stdlib's GCM where it does
// not. But a nonce used twice under one key gives its authentication key
// away. The subkey makes
// the nonce unique: the counter never repeats for one publisher, and two
// publishers (two processes, two subjects, a run restarted with the same key
// file) have different subkeys but for a salt collision (2^-128 a pair).
// Binding the subject into the subkey is what makes a frame moved to another
// subject (another link, direction or node) fail authentication.
const (
	// KeySize is the length of a run's key ([Options.Key]).
	KeySize     = 32
	saltSize    = 16
	counterSize = 8
	tagSize     = 16
	trailerSize = saltSize + counterSize + tagSize

	// flagAuth (header flags) says that the frame has a trailer.
	flagAuth = 1
)

var subkeyLabel = []byte("pcnet natslink gmac v1\x00")

// checkKey accepts nil (no authentication) or a key of KeySize bytes.
func checkKey(key []byte) error {
	if key != nil && len(key) != KeySize {
		return fmt.Errorf("run key of %d bytes; it must have %d", len(key), KeySize)
	}
	return nil
}

// trailerOf is the length of the trailer of frames under key.
func trailerOf(key []byte) int {
	if key == nil {
		return 0
	}
	return trailerSize
}

// subkey derives the GMAC of one publisher on one subject.
func subkey(key, salt []byte, subject string) *gmac.MAC {
	m := hmac.New(sha256.New, key)
	m.Write(subkeyLabel)
	m.Write(salt)
	m.Write([]byte(subject))
	g, err := gmac.New(m.Sum(nil))
	if err != nil {
		panic(err) // unreachable: a SHA-256 sum is an AES-256 key
	}
	return g
}

// sealer authenticates the frames of one publisher on one subject. It is
// not safe for concurrent use: a publisher seals and publishes in order.
type sealer struct {
	mac     *gmac.MAC
	salt    [saltSize]byte
	counter uint64
	nonce   [gmac.NonceSize]byte
	tag     [tagSize]byte
}

// newSealer returns nil for a nil key: frames go without a trailer.
func newSealer(key []byte, subject string) *sealer {
	if key == nil {
		return nil
	}
	s := new(sealer)
	_, _ = rand.Read(s.salt[:]) // crypto/rand.Read never fails (it crashes the program instead)
	s.mac = subkey(key, s.salt[:], subject)
	return s
}

// seal sets the frame's flag, appends the trailer in the capacity of frame
// (header and body, trailerSize bytes of spare room) and returns the frame.
func (s *sealer) seal(frame []byte) []byte {
	frame[9] |= flagAuth
	n := len(frame)
	frame = frame[:n+trailerSize]
	copy(frame[n:], s.salt[:])
	binary.LittleEndian.PutUint64(frame[n+saltSize:], s.counter)
	binary.LittleEndian.PutUint64(s.nonce[:], s.counter)
	s.counter++
	tag := s.mac.Sum(s.tag[:0], &s.nonce, frame[:n+saltSize+counterSize])
	copy(frame[n+saltSize+counterSize:], tag)
	return frame
}

// reason is why a frame was dropped before it was read.
type reason uint8

const (
	accepted reason = iota
	reasonMAC
	reasonReplay
	reasonStale
	reasonMalformed
	reasonOversize
	numReasons
)

var reasonNames = [numReasons]string{"", "mac", "replay", "stale", "malformed", "oversize"}

var reasonWords = [numReasons]string{"",
	"authentication failed (forged, altered, under another key, or moved from another subject)",
	"its counter was already seen (replayed)",
	"an authentic frame of another publisher session (recorded earlier and replayed)",
	"too short or not a pcnet frame of this version",
	"longer than any frame this receiver can get"}

// opener authenticates the frames one receiver gets on one subject. It
// locks onto the salt of the first authentic frame, the publisher it
// listens to, and from then on accepts only that publisher's frames with
// increasing counters:
//
//   - mac: the tag does not match (forged, altered, another key, another
//     subject), or an unauthenticated frame;
//   - replay: the publisher's counter is not above the last accepted;
//   - stale: authentic, but of another publisher (another salt), such as a
//     frame recorded from an earlier run with the same key;
//   - malformed: shorter than a header and trailer, a foreign magic or
//     version, or a length that disagrees with the header;
//   - oversize: longer than maxLen.
//
// The checks run before any field of the frame is trusted. It is not safe
// for concurrent use.
//
// Before the first authentic frame nothing tells the current publisher from
// an earlier one under the same key and subject: a frame recorded from an
// earlier run with the same run ID and key could be replayed to a receiver
// that has not yet heard its publisher. A key therefore serves one run
// (a run ID's subjects), or the subjects of each session must differ.
type opener struct {
	key     []byte
	subject string
	maxLen  int

	locked bool
	salt   [saltSize]byte
	mac    *gmac.MAC
	last   uint64
	nonce  [gmac.NonceSize]byte

	// The subkey of the last other salt seen: a flood of frames under one
	// salt derives it once, not once a frame (BenchmarkNew in internal/gmac:
	// about 1 us and 1.1 KiB allocated each).
	otherSalt [saltSize]byte
	other     *gmac.MAC
}

func newOpener(key []byte, subject string, maxLen int) *opener {
	if key == nil {
		return nil
	}
	return &opener{key: key, subject: subject, maxLen: maxLen}
}

// open checks frame and, when it is accepted, moves the counter on.
func (o *opener) open(frame []byte) reason {
	switch {
	case len(frame) > o.maxLen:
		return reasonOversize
	case len(frame) < headerSize+trailerSize || !bytes.Equal(frame[0:4], magic[:]) || frame[4] != wireVersion:
		return reasonMalformed
	case frame[9]&flagAuth == 0:
		return reasonMAC
	case uint64(len(frame)) != headerSize+uint64(binary.LittleEndian.Uint32(frame[60:]))+trailerSize:
		return reasonMalformed
	}
	n := len(frame) - trailerSize
	salt := frame[n : n+saltSize]
	counter := binary.LittleEndian.Uint64(frame[n+saltSize:])
	ours := o.locked && bytes.Equal(salt, o.salt[:])
	mac := o.mac
	if !ours {
		if o.other == nil || !bytes.Equal(salt, o.otherSalt[:]) {
			o.other = subkey(o.key, salt, o.subject)
			copy(o.otherSalt[:], salt)
		}
		mac = o.other
	}
	binary.LittleEndian.PutUint64(o.nonce[:], counter)
	if !mac.Verify(&o.nonce, frame[:n+saltSize+counterSize], frame[n+saltSize+counterSize:]) {
		return reasonMAC
	}
	switch {
	case o.locked && !ours:
		return reasonStale
	case o.locked && counter <= o.last:
		return reasonReplay
	}
	if !o.locked {
		o.locked, o.mac = true, mac
		copy(o.salt[:], salt)
	}
	o.last = counter
	return accepted
}

// Rejects counts the frames a process dropped, by kind of frame (data,
// credit, message) and reason (mac, replay, stale, malformed, oversize),
// and logs one line the first time each kind is dropped. It is safe for
// concurrent use; one Rejects may serve a Transport and any number of
// MessageReaders, so that a process has one count to report.
type Rejects struct {
	logf   func(format string, args ...any)
	n      [numKinds][numReasons]atomic.Uint64
	warned [numKinds]sync.Once
}

// frameKind is what [Rejects] counts by: the kinds of frames a receiver gets.
type frameKind uint8

const (
	kindData frameKind = iota
	kindCredit
	kindMessage
	numKinds
)

var kindNames = [numKinds]string{"data", "credit", "message"}

// NewRejects makes a count whose first rejection of each kind is logged
// through logf (nil: nothing is logged).
func NewRejects(logf func(format string, args ...any)) *Rejects {
	return &Rejects{logf: logf}
}

// Rejected is one kind and reason of dropped frames and how many.
type Rejected struct {
	Kind   string // data, credit or message (hellos count as credit frames)
	Reason string // mac, replay, stale, malformed or oversize
	Count  uint64
}

// Counts returns every kind and reason counted so far (not zeros), kinds in
// the order data, credit, message and reasons in the order above. The
// counts are cumulative, as Prometheus counters are.
func (r *Rejects) Counts() []Rejected {
	var out []Rejected
	for k := range numKinds {
		for why := reasonMAC; why < numReasons; why++ {
			if n := r.n[k][why].Load(); n > 0 {
				out = append(out, Rejected{Kind: kindNames[k], Reason: reasonNames[why], Count: n})
			}
		}
	}
	return out
}

// add counts one frame of kind dropped for why by the receiver named name.
func (r *Rejects) add(k frameKind, why reason, name string) {
	r.n[k][why].Add(1)
	if r.logf == nil {
		return
	}
	r.warned[k].Do(func() {
		r.logf("%s: dropped a %s frame: %s; later %s frames dropped are counted, not logged", name, kindNames[k], reasonWords[why], kindNames[k])
	})
}
