package natslink

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// ErrClosed is the error of a link whose transport was closed.
var ErrClosed = errors.New("natslink: transport closed")

// Options configure a [Transport].
type Options struct {
	// Run scopes every subject (pcnet.<Run>.link...): processes of one run
	// share it, and two runs on one server never see each other's messages.
	// 1 to 64 of the characters A-Z a-z 0-9 _ -.
	Run string
	// Setup, when > 0, scopes the links further to one setup of the run
	// (pcnet.<Run>.setup.<Setup>.link...): package cluster makes a transport
	// per setup, and a late frame of an earlier one never reaches a later one.
	// 0: the run's only links (pcnet.<Run>.link...).
	Setup int
	// Lo and Hi are the first and last node this process hosts.
	Lo, Hi int
	// Buffers is the number of credits (buffers) per link direction, as in
	// channels.NewInProcess (0: channels.DefaultBuffers).
	Buffers int
	// Delay is added to every hop: each frame this process publishes (data,
	// credit, hello) leaves Delay after it was sent, in order; the sender
	// does not wait. For tests and benchmarks of latency: times change, the
	// numbers carried do not. Each delayed frame is copied (one allocation).
	Delay time.Duration
	// MaxChunkBytes caps a frame (header, body and trailer) below the server's
	// max payload (0: the server's, and with a Key at most 128 KiB of values,
	// sealedChunk). Tests use it to chunk small messages.
	MaxChunkBytes int
	// LocalOverNATS carries a link both of whose nodes are hosted here over
	// NATS too; by default such a link is in-process (channels.NewInProcess).
	LocalOverNATS bool
	// SetupTimeout bounds the server round trip that Link makes after
	// subscribing (0: 10 s).
	SetupTimeout time.Duration
	// Key is the run's secret, KeySize bytes that only the run's processes
	// hold: every frame is authenticated under it, and a frame that fails
	// (forged, altered, moved from another subject) or repeats an earlier
	// one is dropped and counted in Rejects, not read. Nil sends and accepts
	// frames without authentication, for tests and benchmarks that say so:
	// then any bad frame breaks its link.
	Key []byte
	// Rejects counts the frames dropped (nil: a count of the transport's
	// own, which logs nothing); see [Transport.Rejects].
	Rejects *Rejects
}

// Transport carries the links of one run over one NATS connection, for the
// nodes this process hosts, with values of type T (the run's precision): its
// frames say T, and a frame of the other type breaks its link. It implements
// channels.Transport[T]. Close it when the run ends (before closing the
// connection); every goroutine it started stops then.
type Transport[T tensor.Float] struct {
	nc          *nats.Conn
	o           Options
	url         string
	elem        elemType // T's
	chunkFloats int      // values of T a frame of this transport holds
	frameFloats int      // values of T a frame of the server's max payload holds
	local       channels.Transport[T]

	broken  chan struct{} // closed when the links are broken
	failed  atomic.Bool
	failErr error // set once, before broken is closed
	once    sync.Once

	unwatch func() // stops the connection's watch
	delay   *delayLine
	pub     func(subject string, frame []byte) error // nc.Publish; tests intercept it

	mu     sync.Mutex
	subs   []*nats.Subscription
	recvs  []*recvEnd[T] // the receiving ends over NATS, for TakeTraffic
	linked map[int]bool
	closed bool
}

var (
	_ channels.Transport[float64] = (*Transport[float64])(nil)
	_ channels.Transport[float32] = (*Transport[float32])(nil)
)

// New makes the transport of run o.Run for nodes o.Lo..o.Hi on nc, which the
// caller owns, carrying values of type T.
func New[T tensor.Float](nc *nats.Conn, o Options) (*Transport[T], error) {
	elem := elemOf[T]()
	if err := CheckRun(o.Run, maxRunID); err != nil {
		return nil, fmt.Errorf("natslink: %w", err)
	}
	switch {
	case o.Lo < 0 || o.Hi < o.Lo:
		return nil, fmt.Errorf("natslink: run %s: node range [%d, %d] is empty or negative", o.Run, o.Lo, o.Hi)
	case o.Buffers < 0:
		return nil, fmt.Errorf("natslink: run %s: %d buffers per direction; need >= 1 (0 means %d)", o.Run, o.Buffers, channels.DefaultBuffers)
	case o.Delay < 0:
		return nil, fmt.Errorf("natslink: run %s: negative delay %v", o.Run, o.Delay)
	case o.MaxChunkBytes != 0 && o.MaxChunkBytes < headerSize+trailerOf(o.Key)+int(elem):
		return nil, fmt.Errorf("natslink: run %s: max chunk of %d bytes cannot hold the %d-byte header, one %v and the %d-byte trailer", o.Run, o.MaxChunkBytes, headerSize, elem, trailerOf(o.Key))
	case o.Setup < 0:
		return nil, fmt.Errorf("natslink: run %s: negative setup number %d", o.Run, o.Setup)
	case o.SetupTimeout < 0:
		return nil, fmt.Errorf("natslink: run %s: negative setup timeout %v", o.Run, o.SetupTimeout)
	}
	if err := checkKey(o.Key); err != nil {
		return nil, fmt.Errorf("natslink: run %s: %w", o.Run, err)
	}
	if o.Rejects == nil {
		o.Rejects = NewRejects(nil)
	}
	if o.Buffers == 0 {
		o.Buffers = channels.DefaultBuffers
	}
	if o.SetupTimeout == 0 {
		o.SetupTimeout = 10 * time.Second
	}
	t := &Transport[T]{
		nc:     nc,
		o:      o,
		url:    nc.ConnectedUrlRedacted(),
		elem:   elem,
		local:  channels.NewInProcess[T](o.Buffers),
		broken: make(chan struct{}),
		linked: map[int]bool{},
		pub:    nc.Publish,
	}
	// Watch before checking, so that a loss in between is not missed.
	t.unwatch = WatchConn(nc, func(_ string, s nats.Status) {
		t.fail(fmt.Errorf("natslink: run %s: connection to %s %v: the run's links are broken", o.Run, t.url, s))
	})
	if !nc.IsConnected() {
		t.unwatch()
		return nil, fmt.Errorf("natslink: run %s: the NATS connection is %v", o.Run, nc.Status())
	}
	frame := int(nc.MaxPayload())
	if o.MaxChunkBytes != 0 && o.MaxChunkBytes < frame {
		frame = o.MaxChunkBytes
	}
	if frame < headerSize+t.trailer()+int(elem) {
		t.unwatch()
		return nil, fmt.Errorf("natslink: run %s: the server's max payload of %d bytes cannot hold a frame", o.Run, frame)
	}
	t.chunkFloats = (frame - headerSize - t.trailer()) / int(elem)
	t.frameFloats = t.chunkFloats
	if o.Key != nil && o.MaxChunkBytes == 0 {
		// Sealed values travel in chunks of at most sealedChunk bytes, so that sealing,
		// sending, receiving and opening a large value overlap (sealedChunk).
		t.chunkFloats = min(t.chunkFloats, sealedChunk/int(elem))
	}
	if o.Delay > 0 {
		t.delay = startDelayLine(nc, o.Delay, t.fail)
	}
	return t, nil
}

// sealedChunk bounds the body of a frame of a transport with a key (and no
// Options.MaxChunkBytes): a value of more travels in several frames, each sealed and
// opened on its own, so that the MACs of a large value overlap its transfer. The
// receiver opens a chunk while its client reads the next one, and the sender seals the
// next while the server forwards one: of a 512 KiB value's MAC (64 x 1024 float64s,
// about 64 us at the stdlib GCM's 8 GB/s, 22 us at internal/gmac's 24) only a part is
// left on each side's critical path when a core is free (docs/design.md §9). Values of up to 128 KiB, widths up to 256 at batch 64 in
// float64, go in one frame as before.
const sealedChunk = 128 << 10

// trailer is the length of the authentication trailer of t's frames.
func (t *Transport[T]) trailer() int { return trailerOf(t.o.Key) }

// Rejects is the count of the frames t dropped: Options.Rejects, or the
// transport's own.
func (t *Transport[T]) Rejects() *Rejects { return t.o.Rejects }

// maxRunID bounds a run ID of the transport.
const maxRunID = 64

// CheckRun accepts a run ID that is one NATS subject token of safe
// characters, at most maxLen of them: the one check of a run ID, for the
// links' subjects and package cluster's. Its error names the ID, not the
// package: the caller prefixes its own.
func CheckRun(run string, maxLen int) error {
	if run == "" || len(run) > maxLen {
		return fmt.Errorf("run ID %q must be 1 to %d characters", run, maxLen)
	}
	for _, c := range run {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("run ID %q: character %q is not one of A-Z a-z 0-9 _ -", run, c)
		}
	}
	return nil
}

// fail breaks every link of t with err (the first error wins).
func (t *Transport[T]) fail(err error) {
	t.once.Do(func() {
		t.failErr = err
		t.failed.Store(true)
		close(t.broken)
	})
}

// err is the error that broke the links, nil while they work.
func (t *Transport[T]) err() error {
	if !t.failed.Load() {
		return nil
	}
	return t.failErr
}

// publishFailed turns a failed publish of what into the link's error: the
// lost connection's, as every other call will report it, when that is why.
func (t *Transport[T]) publishFailed(name, what string, err error) error {
	if !t.nc.IsConnected() {
		t.fail(fmt.Errorf("natslink: run %s: connection to %s %v: the run's links are broken", t.o.Run, t.url, t.nc.Status()))
	}
	if lost := t.err(); lost != nil {
		return lost
	}
	return fmt.Errorf("%s: %s: %w", name, what, err)
}

// Close unsubscribes every end, stops the goroutines of t and breaks its
// links over NATS (their calls return ErrClosed; in-process links of two
// local nodes are not affected). It does not close the connection.
func (t *Transport[T]) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()

	t.fail(ErrClosed)
	var first error
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil && first == nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			first = fmt.Errorf("natslink: run %s: unsubscribe %s: %w", t.o.Run, s.Subject, err)
		}
	}
	t.unwatch()
	if t.delay != nil {
		t.delay.stop()
	}
	return first
}

// publish sends one frame now, or after the injected delay.
func (t *Transport[T]) publish(subject string, frame []byte) error {
	if t.delay != nil {
		return t.delay.publish(subject, frame, t.broken)
	}
	return t.pub(subject, frame)
}

// Link makes link lower-(lower+1): Edge(channels.ChainEdge(lower), ...).
func (t *Transport[T]) Link(lower int, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[T], error) {
	return t.Edge(channels.ChainEdge(lower), upMaxRows, upMaxCols, downMaxRows, downMaxCols)
}

// Edge makes the link of edge e of the run's layer graph (a chain link, or a long skip
// whose nodes may be hosted by two processes: docs/design.md §11). The ends this process
// holds are real: the up sender and down receiver if node e.Lower is hosted, the up
// receiver and down sender if node e.Upper is; the others are nil. Its subjects and
// frames name the link by e.ID (a chain link's id is its lower node, so a chain's are
// as they were). A link with both nodes hosted is in-process unless
// Options.LocalOverNATS. Each edge id is made once.
func (t *Transport[T]) Edge(e channels.Edge, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*channels.Link[T], error) {
	if e.Lower < 0 {
		return nil, fmt.Errorf("natslink: run %s: link %d-%d: lower node %d is negative", t.o.Run, e.Lower, e.Upper, e.Lower)
	}
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("natslink: run %s: %w", t.o.Run, err)
	}
	lowerHere := t.o.Lo <= e.Lower && e.Lower <= t.o.Hi
	upperHere := t.o.Lo <= e.Upper && e.Upper <= t.o.Hi
	if !lowerHere && !upperHere {
		return nil, fmt.Errorf("natslink: run %s: %v has no node in this process's range [%d, %d]", t.o.Run, e, t.o.Lo, t.o.Hi)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return nil, ErrClosed
	case t.linked[e.ID]:
		return nil, fmt.Errorf("natslink: run %s: %v made twice", t.o.Run, e)
	}
	if lowerHere && upperHere && !t.o.LocalOverNATS {
		l, err := t.local.Edge(e, upMaxRows, upMaxCols, downMaxRows, downMaxCols)
		if err == nil {
			t.linked[e.ID] = true
		}
		return l, err
	}
	b := linkBuilder[T]{t: t}
	up := newEdgeEndpoint(t.o.Run, e, channels.Up).inSetup(t.o.Setup)
	down := newEdgeEndpoint(t.o.Run, e, channels.Down).inSetup(t.o.Setup)
	if err := checkShape(up.name, t.o.Buffers, upMaxRows, upMaxCols); err != nil {
		return nil, err
	}
	if err := checkShape(down.name, t.o.Buffers, downMaxRows, downMaxCols); err != nil {
		return nil, err
	}
	var (
		upSend, downSend *sendEnd[T]
		upRecv, downRecv *recvEnd[T]
	)
	if lowerHere {
		upSend = b.sender(up, upMaxRows, upMaxCols)
		downRecv = b.receiver(down, downMaxRows, downMaxCols)
	}
	if upperHere {
		upRecv = b.receiver(up, upMaxRows, upMaxCols)
		downSend = b.sender(down, downMaxRows, downMaxCols)
	}
	if b.err == nil {
		// The server has the subscriptions before anyone is told of them.
		b.err = t.nc.FlushTimeout(t.o.SetupTimeout)
	}
	for _, r := range []*recvEnd[T]{upRecv, downRecv} {
		if r != nil && b.err == nil {
			b.err = r.grant()
		}
	}
	if b.err != nil {
		for _, s := range b.subs {
			_ = s.Unsubscribe()
		}
		return nil, fmt.Errorf("natslink: run %s: %v: %w", t.o.Run, e, b.err)
	}
	t.subs = append(t.subs, b.subs...)
	for _, r := range []*recvEnd[T]{upRecv, downRecv} {
		if r != nil {
			t.recvs = append(t.recvs, r)
		}
	}
	t.linked[e.ID] = true
	stats := func(d channels.Direction) channels.Stats {
		s, r := upSend, upRecv
		if d == channels.Down {
			s, r = downSend, downRecv
		} else if d != channels.Up {
			return channels.Stats{}
		}
		if s != nil {
			return s.stats()
		}
		if r != nil {
			return r.stats()
		}
		return channels.Stats{}
	}
	// Typed nil pointers must become nil interfaces.
	var us, ds channels.Sender[T]
	var ur, dr channels.Receiver[T]
	if upSend != nil {
		us, dr = upSend, downRecv
	}
	if upRecv != nil {
		ur, ds = upRecv, downSend
	}
	return channels.NewEdgeLink[T](e, us, ur, ds, dr, stats), nil
}

// linkBuilder collects the subscriptions of a link being made and its first
// error.
type linkBuilder[T tensor.Float] struct {
	t    *Transport[T]
	subs []*nats.Subscription
	err  error
}

func (b *linkBuilder[T]) chanSubscribe(subject string, capacity int) chan *nats.Msg {
	ch := make(chan *nats.Msg, capacity)
	if b.err != nil {
		return ch
	}
	sub, err := b.t.nc.ChanSubscribe(subject, ch)
	if err != nil {
		b.err = err
		return ch
	}
	b.subs = append(b.subs, sub)
	return ch
}

func (b *linkBuilder[T]) sender(e endpoint, maxRows, maxCols int) *sendEnd[T] {
	t := b.t
	s := &sendEnd[T]{
		t:           t,
		endpoint:    e,
		kind:        kindOf(e.dir),
		maxRows:     maxRows,
		maxCols:     maxCols,
		slots:       newSlots[T](t.o.Buffers, maxRows, maxCols),
		chunkFloats: t.chunkFloats,
	}
	s.subject, _, s.helloSubject = subjects(e)
	_, credit, _ := subjects(e)
	s.frame = make([]byte, headerSize+int(t.elem)*min(maxRows*maxCols, t.chunkFloats)+t.trailer())
	s.hello = make([]byte, headerSize+t.trailer())
	s.seal = newSealer(t.o.Key, s.subject)
	s.helloSeal = newSealer(t.o.Key, s.helloSubject)
	s.creditOpen = newOpener(t.o.Key, credit, headerSize+trailerSize)
	// Credits in flight: one per release, plus re-grants answering hellos.
	s.credits = b.chanSubscribe(credit, t.o.Buffers+16)
	if b.err == nil {
		s.creditSub = b.subs[len(b.subs)-1]
		s.slow = s.creditSub.StatusChanged(nats.SubscriptionSlowConsumer)
	}
	return s
}

func (b *linkBuilder[T]) receiver(e endpoint, maxRows, maxCols int) *recvEnd[T] {
	t := b.t
	r := &recvEnd[T]{t: t, dec: newDecoder[T](e, t.o.Buffers, maxRows, maxCols)}
	r.subject, r.creditSubject, _ = subjects(e)
	_, _, hello := subjects(e)
	r.creditFrame = make([]byte, headerSize+t.trailer())
	r.creditSeal = newSealer(t.o.Key, r.creditSubject)
	r.helloOpen = newOpener(t.o.Key, hello, headerSize+trailerSize)
	// A frame of the server's max payload is accepted, not only one of this end's chunk:
	// a sender that chunks sealed values otherwise (a build before sealedChunk) is read.
	r.dec.open = newOpener(t.o.Key, r.subject, headerSize+int(t.elem)*min(maxRows*maxCols, t.frameFloats)+trailerSize)
	r.limit.Store(uint64(t.o.Buffers))
	// Frames in flight: every credit's message, chunked, and a margin for
	// foreign frames (dropped with a key, errors without): a flood beyond it
	// is a slow consumer, an error of the link.
	chunks := (maxRows*maxCols + t.chunkFloats - 1) / t.chunkFloats
	r.frames = b.chanSubscribe(r.subject, t.o.Buffers*chunks+16)
	if b.err == nil {
		r.sub = b.subs[len(b.subs)-1]
		r.slow = r.sub.StatusChanged(nats.SubscriptionSlowConsumer)
		sub, err := t.nc.Subscribe(hello, r.answerHello)
		if err == nil {
			b.subs = append(b.subs, sub)
			// Hellos are header-sized and harmless when dropped (the sender
			// asks again): a flood of them costs at most this much memory.
			err = sub.SetPendingLimits(helloPending, helloPending*(headerSize+trailerSize))
		}
		b.err = err
	}
	return r
}

// helloPending bounds the hellos queued for a receiver's answer.
const helloPending = 64

// slowConsumer is the error of an end whose subscription dropped frames:
// the client's queue (the channel, sized for every frame the end's credits
// allow, and a margin) was full, which a flood of foreign frames can cause.
// A frame of the run may be among those lost, so the link is broken.
func slowConsumer(name, what string, n int) error {
	return fmt.Errorf("%s: %d %s frames dropped by the client (slow consumer: its queue was full)", name, n, what)
}

func kindOf(d channels.Direction) channels.Kind {
	if d == channels.Down {
		return channels.Error
	}
	return channels.Prediction
}
