package channels

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/pcnet/pcnet/tensor"
)

// Kind says what a message carries.
type Kind uint8

const (
	Prediction Kind = iota + 1 // p_{l+1}(t), sent up from l to l+1
	Error                      // pi_{l+1} e_{l+1}(t), sent down from l+1 to l
)

func (k Kind) String() string {
	switch k {
	case Prediction:
		return "prediction"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Direction is one of the two directions of a link.
type Direction uint8

const (
	Up   Direction = iota + 1 // lower -> upper, predictions
	Down                      // upper -> lower, errors
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// kind is the kind of message a direction carries.
func (d Direction) kind() Kind {
	if d == Up {
		return Prediction
	}
	return Error
}

// Buffer is a row-major Rows x Cols block of T values (float32 or float64) owned by a
// link's pool.
//
// len(Data) is the capacity of the pool's maximum shape; Data[:Rows*Cols]
// (see [Buffer.Value]) is the value. A freshly acquired buffer holds whatever
// the last message through it held: the sender overwrites it. Buffers are
// handled by pointer only (they hold an atomic and must not be copied).
type Buffer[T tensor.Float] struct {
	Rows, Cols int
	Data       []T

	full  []T           // the pool's allocation; Acquire restores Data to it
	owner *direction[T] // the direction whose pool this buffer belongs to
	// state is the hand-off state (low 2 bits) and the generation (the rest),
	// bumped on every Acquire so that a stale Message cannot be released
	// again once its buffer has gone round the pool. The generation wraps
	// after 2^62 rounds, which no run reaches.
	state atomic.Uint64
}

// Value is the value of the buffer: Data[:Rows*Cols].
func (b *Buffer[T]) Value() []T { return b.Data[:b.Rows*b.Cols] }

// ownerName names the pool of b in errors.
func (b *Buffer[T]) ownerName() string {
	if b.owner == nil {
		return "a buffer from no link's pool"
	}
	return fmt.Sprintf("a buffer of link %d-%d %v", b.owner.lower, b.owner.upper, b.owner.dir)
}

// Buffer states; a buffer goes round free -> acquired -> sent -> free. Recv
// does not mark it (it would cost an atomic per message for nothing: only
// the receiver can hold a sent message, and Release checks its generation).
const (
	stateFree uint64 = iota
	stateAcquired
	stateSent

	stateBits        = 2
	stateMask uint64 = 1<<stateBits - 1
	// acquire turns (gen, free) into (gen+1, acquired) in one atomic add.
	acquire = 1<<stateBits + stateAcquired - stateFree
)

// Payload says what a message's value is. A message always carries a buffer, because
// the buffer is the sender's credit (flow control is the same whatever the payload), but
// only a Full message's buffer holds the value: for the others the receiver reads nothing
// from it, and a transport that crosses a process boundary sends the header alone.
type Payload uint8

const (
	// Full: the buffer holds the value. It is the zero value, so a Message written
	// without a Payload is a full one.
	Full Payload = iota
	// Zero: the value is exactly zero.
	Zero
	// Unchanged: the value is bit for bit that of the previous message of this
	// direction in this batch; the receiver keeps what it made of that one.
	Unchanged
)

func (p Payload) String() string {
	switch p {
	case Full:
		return "full"
	case Zero:
		return "zero"
	case Unchanged:
		return "unchanged"
	}
	return fmt.Sprintf("Payload(%d)", uint8(p))
}

// NumPayloads is the number of payloads: a Payload indexes an array of this length.
const NumPayloads = 3

// Payloads lists every payload in a fixed order (for metric labels).
func Payloads() []Payload { return []Payload{Full, Zero, Unchanged} }

// Message is one value sent over a link: its kind, the step index t it
// belongs to, what its payload is, and the buffer (the credit) holding it.
type Message[T tensor.Float] struct {
	Kind    Kind
	Step    int
	Payload Payload
	Buf     *Buffer[T]

	gen uint64 // Buf's generation when sent; Release checks it
}

// Sender is one direction's sending end. It is used by one goroutine.
type Sender[T tensor.Float] interface {
	// Acquire returns a free buffer shaped rows x cols (error if it does not
	// fit the pool's capacity), blocking until one is free or ctx is done.
	Acquire(ctx context.Context, rows, cols int) (*Buffer[T], error)
	// Send hands m to the receiver; after Send the sender must not touch m.Buf.
	Send(ctx context.Context, m Message[T]) error
}

// Receiver is one direction's receiving end. It is used by one goroutine.
type Receiver[T tensor.Float] interface {
	Recv(ctx context.Context) (Message[T], error)
	// Release returns m.Buf to the sender's pool; the receiver must not touch it afterwards.
	Release(m Message[T])
}

// Stats are the counters of one direction: messages and payload bytes (the
// element size, 8 bytes per float64 or 4 per float32, times Rows*Cols of a
// Full message; Zero and Unchanged
// messages carry no payload) sent, and, for a transport that has a wire,
// the bytes its frames took there (headers and every chunk included; zero
// in-process, where nothing is copied).
type Stats struct {
	Messages, Bytes uint64
	WireBytes       uint64
}

// Edge names one edge of a network's layer graph (docs/design.md §11): its lower node
// (the parent, whose predictions go up it), its upper node (the child, whose errors come
// down it) and its id, which the processes of a run agree on and a transport between
// processes names the link by: the lower node for a chain edge Lower -> Lower+1, and
// H+1+k for the graph's long skip k, so that no two edges share one.
type Edge struct {
	Lower, Upper, ID int
}

// ChainEdge is the chain edge l -> l+1 (its id is l).
func ChainEdge(l int) Edge { return Edge{Lower: l, Upper: l + 1, ID: l} }

// String names the edge in errors: "link 2-3", "link 1-4 (edge 10)" for a skip.
func (e Edge) String() string {
	if e == ChainEdge(e.Lower) {
		return fmt.Sprintf("link %d-%d", e.Lower, e.Upper)
	}
	return fmt.Sprintf("link %d-%d (edge %d)", e.Lower, e.Upper, e.ID)
}

// Check reports an edge that no graph has: a negative node or id, an upper node not
// above the lower one, or a chain edge (Upper = Lower+1) whose id is not its lower node.
// A skip's id is not checked against the graph here: its transport knows no graph.
func (e Edge) Check() error {
	switch {
	case e.Lower < 0 || e.ID < 0:
		return fmt.Errorf("%v: negative node or id", e)
	case e.Upper <= e.Lower:
		return fmt.Errorf("%v: the upper node is not above the lower one", e)
	case e.Upper == e.Lower+1 && e.ID != e.Lower:
		return fmt.Errorf("%v: a chain edge's id is its lower node %d", e, e.Lower)
	}
	return nil
}

// Transport makes links; the in-process implementation uses Go channels,
// channels/natslink carries them over NATS, behind the same interface, without
// touching the engine.
type Transport[T tensor.Float] interface {
	// Link connects node `lower` and node `lower+1`: the up direction carries
	// predictions from lower to upper, the down direction errors from upper
	// to lower. maxRows x maxCols bound the buffers of each direction (up:
	// upper's width, down: upper's width too, since e_{l+1} has upper's width).
	// It is Edge(ChainEdge(lower), ...).
	Link(lower int, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*Link[T], error)
	// Edge connects the two nodes of edge e as Link connects neighbours: up carries
	// what e.Lower sends e.Upper (a prediction term, or the state of a skip's source),
	// down the error of e.Upper. A transport between processes names the link by e.ID.
	Edge(e Edge, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*Link[T], error)
}

// Link is the pair of directions between node Lower and node Upper: Lower+1 on a
// chain edge, further up on a long skip (docs/design.md §11).
type Link[T tensor.Float] struct {
	Lower    int
	Upper    int
	ID       int         // the edge's id (Edge.ID): Lower on a chain edge
	UpSend   Sender[T]   // held by node Lower
	UpRecv   Receiver[T] // held by node Lower+1
	DownSend Sender[T]   // held by node Lower+1
	DownRecv Receiver[T] // held by node Lower

	up, down *direction[T]
	// stats, when set, counts a link made by another package's transport
	// (NewLink); the in-process links leave it nil and read up and down.
	stats func(Direction) Stats
}

// NewLink makes a Link out of ends built by another transport: any end this
// process does not hold is nil. stats reports the counters of a direction for
// [Link.Stats] (nil: zero counters); it must be safe to call concurrently
// with traffic.
func NewLink[T tensor.Float](lower int, upSend Sender[T], upRecv Receiver[T], downSend Sender[T], downRecv Receiver[T], stats func(Direction) Stats) *Link[T] {
	return NewEdgeLink(ChainEdge(lower), upSend, upRecv, downSend, downRecv, stats)
}

// NewEdgeLink is NewLink on edge e of a layer graph.
func NewEdgeLink[T tensor.Float](e Edge, upSend Sender[T], upRecv Receiver[T], downSend Sender[T], downRecv Receiver[T], stats func(Direction) Stats) *Link[T] {
	if stats == nil {
		stats = func(Direction) Stats { return Stats{} }
	}
	return &Link[T]{Lower: e.Lower, Upper: e.Upper, ID: e.ID, UpSend: upSend, UpRecv: upRecv, DownSend: downSend, DownRecv: downRecv, stats: stats}
}

// Stats returns the counters of a direction (safe to call concurrently with
// traffic). A message is counted before Recv can return it; the two counters
// are separate atomics, so a read racing a Send may see one counted and not
// yet the other. An unknown direction has zero counters.
func (l *Link[T]) Stats(d Direction) Stats {
	if l.stats != nil {
		return l.stats(d)
	}
	var dir *direction[T]
	switch d {
	case Up:
		dir = l.up
	case Down:
		dir = l.down
	}
	if dir == nil {
		return Stats{}
	}
	return Stats{Messages: dir.messages.Load(), Bytes: dir.bytes.Load()}
}

// DefaultBuffers is the number of buffers per direction of NewInProcess(0).
const DefaultBuffers = 2

// NewInProcess returns the in-process transport of T values: each direction of a link is
// a pair of Go channels (messages one way, free buffers back) over a pool of
// `buffers` pre-allocated buffers, >= 1 (DefaultBuffers when 0). A negative
// count is reported by Link.
func NewInProcess[T tensor.Float](buffers int) Transport[T] {
	if buffers == 0 {
		buffers = DefaultBuffers
	}
	return inProcess[T]{buffers: buffers}
}

type inProcess[T tensor.Float] struct{ buffers int }

func (t inProcess[T]) Link(lower int, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*Link[T], error) {
	return t.Edge(ChainEdge(lower), upMaxRows, upMaxCols, downMaxRows, downMaxCols)
}

func (t inProcess[T]) Edge(e Edge, upMaxRows, upMaxCols, downMaxRows, downMaxCols int) (*Link[T], error) {
	if t.buffers < 1 {
		return nil, fmt.Errorf("channels: in-process transport has %d buffers per direction; need >= 1 (0 means %d)", t.buffers, DefaultBuffers)
	}
	if e.Lower < 0 {
		return nil, fmt.Errorf("channels: link %d-%d: lower node %d is negative", e.Lower, e.Upper, e.Lower)
	}
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	up, err := newDirection[T](e, Up, t.buffers, upMaxRows, upMaxCols)
	if err != nil {
		return nil, err
	}
	down, err := newDirection[T](e, Down, t.buffers, downMaxRows, downMaxCols)
	if err != nil {
		return nil, err
	}
	return &Link[T]{
		Lower:    e.Lower,
		Upper:    e.Upper,
		ID:       e.ID,
		UpSend:   (*sendEnd[T])(up),
		UpRecv:   (*recvEnd[T])(up),
		DownSend: (*sendEnd[T])(down),
		DownRecv: (*recvEnd[T])(down),
		up:       up,
		down:     down,
	}, nil
}

// maxFloats bounds one pool (all its buffers together) to 2^31 values
// (16 GiB of float64): beyond that a shape is a bug, not a network.
const maxFloats = 1 << 31

// direction is one direction of an in-process link: a fixed pool of buffers
// that circulate through free (sender's credits) and msgs (in flight).
// Both channels have room for the whole pool, so Send and Release never
// block: only Acquire (out of credits) and Recv (nothing sent) do.
type direction[T tensor.Float] struct {
	lower, upper     int
	dir              Direction
	kind             Kind
	maxRows, maxCols int

	free chan *Buffer[T]
	msgs chan Message[T]

	messages, bytes atomic.Uint64
}

func newDirection[T tensor.Float](e Edge, dir Direction, buffers, maxRows, maxCols int) (*direction[T], error) {
	d := &direction[T]{lower: e.Lower, upper: e.Upper, dir: dir, kind: dir.kind(), maxRows: maxRows, maxCols: maxCols}
	if maxRows < 1 || maxCols < 1 {
		return nil, fmt.Errorf("%v: max shape %dx%d must be at least 1x1", d, maxRows, maxCols)
	}
	if maxRows > maxFloats/maxCols || maxRows*maxCols > maxFloats/buffers {
		return nil, fmt.Errorf("%v: %d buffers of %dx%d exceed %d values", d, buffers, maxRows, maxCols, maxFloats)
	}
	d.free = make(chan *Buffer[T], buffers)
	d.msgs = make(chan Message[T], buffers)
	n := maxRows * maxCols
	slab := make([]T, buffers*n)
	for i := range buffers {
		full := slab[i*n : (i+1)*n : (i+1)*n]
		d.free <- &Buffer[T]{Rows: maxRows, Cols: maxCols, Data: full, full: full, owner: d}
	}
	return d, nil
}

// String names the direction in errors: "channels: link 2-3 up".
func (d *direction[T]) String() string {
	return fmt.Sprintf("channels: link %d-%d %v", d.lower, d.upper, d.dir)
}

// sendEnd and recvEnd are the two ends of a direction, as distinct types so
// that neither end can be asserted into the other.
type (
	sendEnd[T tensor.Float] direction[T]
	recvEnd[T tensor.Float] direction[T]
)

// Acquire takes one credit: a free buffer of the pool, reshaped to rows x
// cols, which must fit the direction's max shape. It blocks while the
// receiver holds every buffer. A cancelled ctx wins over a free buffer.
func (s *sendEnd[T]) Acquire(ctx context.Context, rows, cols int) (*Buffer[T], error) {
	d := (*direction[T])(s)
	if rows < 1 || cols < 1 || rows > d.maxRows || cols > d.maxCols {
		return nil, fmt.Errorf("%v: cannot acquire a %dx%d buffer: the pool's buffers are %dx%d", d, rows, cols, d.maxRows, d.maxCols)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var b *Buffer[T]
	select {
	case b = <-d.free:
	default:
		select {
		case b = <-d.free:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b.state.Add(acquire)
	b.Rows, b.Cols, b.Data = rows, cols, b.full
	return b, nil
}

// Send hands m to the receiver. m.Kind must be the direction's kind and m.Buf
// a buffer this sender acquired and has not sent yet, with a shape that fits
// the pool. If ctx is cancelled, Send fails and the sender keeps m.Buf.
func (s *sendEnd[T]) Send(ctx context.Context, m Message[T]) error {
	d := (*direction[T])(s)
	b := m.Buf
	switch {
	case m.Kind != d.kind:
		return fmt.Errorf("%v carries %v messages, not %v (step %d)", d, d.kind, m.Kind, m.Step)
	case b == nil:
		return fmt.Errorf("%v: %v message of step %d has no buffer", d, m.Kind, m.Step)
	case b.owner != d:
		return fmt.Errorf("%v: %v message of step %d has %s; acquire it from this sender", d, m.Kind, m.Step, b.ownerName())
	case b.Rows < 1 || b.Cols < 1 || b.Rows > d.maxRows || b.Cols > d.maxCols:
		return fmt.Errorf("%v: %v message of step %d is %dx%d; the pool's buffers are %dx%d", d, m.Kind, m.Step, b.Rows, b.Cols, d.maxRows, d.maxCols)
	case m.Payload > Unchanged:
		return fmt.Errorf("%v: %v message of step %d has an unknown payload %v", d, m.Kind, m.Step, m.Payload)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st := b.state.Load()
	if st&stateMask != stateAcquired || !b.state.CompareAndSwap(st, st&^stateMask|stateSent) {
		return fmt.Errorf("%v: %v message of step %d: its buffer is not acquired (sent twice, or sent after Release)", d, m.Kind, m.Step)
	}
	m.gen = st >> stateBits
	// Counted before the hand-off, so that a receiver reading Stats after
	// Recv sees its message counted.
	var bytes uint64
	if m.Payload == Full {
		bytes = uint64(elemSize[T]()) * uint64(b.Rows*b.Cols)
	}
	d.messages.Add(1)
	d.bytes.Add(bytes)
	select {
	case d.msgs <- m:
	default:
		// Unreachable while every buffer comes from the pool: msgs has room
		// for all of them. Kept blocking-with-ctx rather than trusted.
		select {
		case d.msgs <- m:
		case <-ctx.Done():
			d.messages.Add(^uint64(0))
			d.bytes.Add(-bytes)
			b.state.Store(st) // back to acquired: the sender still owns it
			return ctx.Err()
		}
	}
	return nil
}

// Recv returns the next message in the order sent, blocking until there is
// one or ctx is done. A cancelled ctx wins over a waiting message.
func (r *recvEnd[T]) Recv(ctx context.Context) (Message[T], error) {
	d := (*direction[T])(r)
	if err := ctx.Err(); err != nil {
		return Message[T]{}, err
	}
	var m Message[T]
	select {
	case m = <-d.msgs:
	default:
		select {
		case m = <-d.msgs:
		case <-ctx.Done():
			return Message[T]{}, ctx.Err()
		}
	}
	return m, nil
}

// Release gives m.Buf back to the sender's pool. It never blocks. Releasing
// a message twice, a buffer of another link or direction, or a message that
// was not received is a programmer error, and Release panics naming it.
func (r *recvEnd[T]) Release(m Message[T]) {
	d := (*direction[T])(r)
	b := m.Buf
	if b == nil {
		panic(fmt.Sprintf("%v: Release of a message without a buffer (%v, step %d)", d, m.Kind, m.Step))
	}
	if b.owner != d {
		panic(fmt.Sprintf("%v: Release of %s (step %d)", d, b.ownerName(), m.Step))
	}
	if !b.state.CompareAndSwap(m.gen<<stateBits|stateSent, m.gen<<stateBits|stateFree) {
		panic(fmt.Sprintf("%v: Release of the %v message of step %d twice, or of a message not received", d, m.Kind, m.Step))
	}
	select {
	case d.free <- b:
	default:
		panic(fmt.Sprintf("%v: pool overflow on Release (step %d): more buffers returned than it holds", d, m.Step))
	}
}

// elemSize is the size of a T in bytes: 4 for float32, 8 for float64.
func elemSize[T tensor.Float]() uintptr {
	var z T
	return unsafe.Sizeof(z)
}
