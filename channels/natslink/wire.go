package natslink

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"unsafe"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// The frame header, little-endian, headerSize bytes:
//
//	off size field
//	  0    4 magic "PCNL"
//	  4    1 version (4)
//	  5    1 frame type: 1 data, 2 hello, 3 credit, 4 message
//	  6    1 direction: 1 up, 2 down (message frames: 0)
//	  7    1 message kind (data frames; 0 otherwise)
//	  8    1 payload: 0 full, 1 zero, 2 unchanged (data frames; 0 otherwise)
//	  9    1 flags: bit 0 = authenticated, a 40-byte trailer follows the
//	         body (auth.go); the other bits must be 0
//	 10    1 element type of a data frame's values: its size in bytes, 4
//	         float32 or 8 float64 (0 in other frames; a receiver refuses a
//	         data frame of another type than its own)
//	 11    1 reserved (must be 0)
//	 12    4 the link's edge id: its lower node l on a chain link l -> l+1,
//	         H+1+k on long skip k (docs/design.md §11); message frames: the node whose subject
//	         carries them
//	 16    8 run tag: FNV-1a 64 of the run ID (of "<run>.setup.<n>" in setup n)
//	 24    8 data, message: the message's sequence number in its direction
//	         or on its subject, from 0; credit: the credit limit (the sender
//	         may send messages < it)
//	 32    8 data: step (signed); message: the message's length in bytes
//	 40    4 rows (data frames; 0 otherwise)
//	 44    4 cols (data frames; 0 otherwise)
//	 48    4 chunk index
//	 52    4 chunk count
//	 56    4 offset of the chunk's first value (data) or byte (message)
//	         in the message
//	 60    4 body bytes after the header
//	 64    8 data: the sender's wall clock when Send was called, Unix
//	         nanoseconds (the same in every chunk); 0 otherwise
//
// A data frame's body is the chunk's values (float32s or float64s, as the
// element type says), row-major, little-endian. A
// Zero or Unchanged message is one frame without a body. A message frame's
// body is the chunk's bytes; every chunk of a message but the last holds as
// many, at least 1 KiB.
const (
	headerSize  = 72
	wireVersion = 4
)

// elemType is the element type of a data frame's values, written as its size
// in bytes: a float32 link's frames carry half the bytes of a float64 one's.
type elemType uint8

const (
	elemFloat32 elemType = 4
	elemFloat64 elemType = 8
)

func (e elemType) String() string {
	switch e {
	case elemFloat32:
		return "float32"
	case elemFloat64:
		return "float64"
	}
	return fmt.Sprintf("element type %d", uint8(e))
}

// elemOf is the element type of T.
func elemOf[T tensor.Float]() elemType {
	var z T
	return elemType(unsafe.Sizeof(z))
}

var magic = [4]byte{'P', 'C', 'N', 'L'}

type frameType uint8

const (
	frameData    frameType = 1 // a chunk of a message
	frameHello   frameType = 2 // a sender asks its receiver for its credit limit
	frameCredit  frameType = 3 // a receiver's credit limit
	frameMessage frameType = 4 // a chunk of a byte message (MessageWriter)
)

func (f frameType) String() string {
	switch f {
	case frameData:
		return "data"
	case frameHello:
		return "hello"
	case frameCredit:
		return "credit"
	case frameMessage:
		return "message"
	}
	return fmt.Sprintf("frame type %d", uint8(f))
}

type header struct {
	typ           frameType
	dir           channels.Direction
	kind          channels.Kind
	payload       channels.Payload
	flags         uint8
	elem          elemType
	reserved      uint8
	lower         uint32
	run           uint64
	seq           uint64
	step          int64
	rows, cols    uint32
	chunk, chunks uint32
	offset, body  uint32
	sent          int64
	version       uint8
	magic         [4]byte
}

// putHeader writes h (with this version's magic and version) into b[:headerSize].
func putHeader(b []byte, h *header) {
	_ = b[headerSize-1]
	copy(b[0:4], magic[:])
	b[4] = wireVersion
	b[5] = byte(h.typ)
	b[6] = byte(h.dir)
	b[7] = byte(h.kind)
	b[8] = byte(h.payload)
	b[9] = h.flags
	b[10] = byte(h.elem)
	b[11] = 0
	binary.LittleEndian.PutUint32(b[12:], h.lower)
	binary.LittleEndian.PutUint64(b[16:], h.run)
	binary.LittleEndian.PutUint64(b[24:], h.seq)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.step))
	binary.LittleEndian.PutUint32(b[40:], h.rows)
	binary.LittleEndian.PutUint32(b[44:], h.cols)
	binary.LittleEndian.PutUint32(b[48:], h.chunk)
	binary.LittleEndian.PutUint32(b[52:], h.chunks)
	binary.LittleEndian.PutUint32(b[56:], h.offset)
	binary.LittleEndian.PutUint32(b[60:], h.body)
	binary.LittleEndian.PutUint64(b[64:], uint64(h.sent))
}

// parseHeader reads the header of frame and checks what is the same for
// every frame: length, magic, version, flags (authenticated when auth, and
// no other bit), zero reserved bits, and that the body (and the trailer when
// auth) is exactly as long as the header says.
func parseHeader(frame []byte, h *header, auth bool) error {
	trailer, flags := 0, uint8(0)
	if auth {
		trailer, flags = trailerSize, flagAuth
	}
	if len(frame) < headerSize {
		return fmt.Errorf("truncated frame: %d bytes, shorter than the %d-byte header", len(frame), headerSize)
	}
	copy(h.magic[:], frame[0:4])
	if h.magic != magic {
		return fmt.Errorf("not a pcnet link frame: magic %q, want %q", string(frame[0:4]), string(magic[:]))
	}
	h.version = frame[4]
	if h.version != wireVersion {
		return fmt.Errorf("wire version %d, this build speaks %d", h.version, wireVersion)
	}
	h.typ = frameType(frame[5])
	h.dir = channels.Direction(frame[6])
	h.kind = channels.Kind(frame[7])
	h.payload = channels.Payload(frame[8])
	h.flags = frame[9]
	h.elem = elemType(frame[10])
	h.reserved = frame[11]
	h.lower = binary.LittleEndian.Uint32(frame[12:])
	h.run = binary.LittleEndian.Uint64(frame[16:])
	h.seq = binary.LittleEndian.Uint64(frame[24:])
	h.step = int64(binary.LittleEndian.Uint64(frame[32:]))
	h.rows = binary.LittleEndian.Uint32(frame[40:])
	h.cols = binary.LittleEndian.Uint32(frame[44:])
	h.chunk = binary.LittleEndian.Uint32(frame[48:])
	h.chunks = binary.LittleEndian.Uint32(frame[52:])
	h.offset = binary.LittleEndian.Uint32(frame[56:])
	h.body = binary.LittleEndian.Uint32(frame[60:])
	h.sent = int64(binary.LittleEndian.Uint64(frame[64:]))
	switch {
	case h.flags&flagAuth != 0 && !auth:
		return fmt.Errorf("an authenticated frame, and this end has no run key")
	case h.flags != flags:
		return fmt.Errorf("unknown flags %#x", h.flags)
	case h.reserved != 0:
		return fmt.Errorf("reserved header byte is %#x, not zero", h.reserved)
	case uint64(len(frame)-headerSize) < uint64(h.body)+uint64(trailer):
		return fmt.Errorf("truncated frame: body of %d bytes, the header says %d", len(frame)-headerSize-trailer, h.body)
	case uint64(len(frame)-headerSize) > uint64(h.body)+uint64(trailer):
		return fmt.Errorf("size mismatch: body of %d bytes, the header says %d", len(frame)-headerSize-trailer, h.body)
	}
	return nil
}

// endpoint is what a frame must name to belong to a direction of a link:
// the run, the link and the direction. Subjects scope runs and links already;
// the header says it again so that a frame published on the wrong subject is
// caught, not read.
type endpoint struct {
	runID string
	setup int // Options.Setup
	run   uint64
	// lower is the link's id, header bytes 12..15: the edge's id (channels.Edge.ID), which
	// is the lower node of a chain link l -> l+1, so that a chain's frames are what they
	// were before graphs; message frames: the node whose subject carries them.
	lower uint32
	edge  channels.Edge // the link's edge (message frames: the chain edge of their node)
	dir   channels.Direction
	name  string // "natslink: run r1 link 2-3 up", the prefix of its errors
}

func newEndpoint(runID string, lower int, dir channels.Direction) endpoint {
	return newEdgeEndpoint(runID, channels.ChainEdge(lower), dir)
}

// newEdgeEndpoint is the endpoint of a direction of edge e's link (docs/design.md §11):
// named by e's id on the wire and in its subjects, by its nodes in errors.
func newEdgeEndpoint(runID string, e channels.Edge, dir channels.Direction) endpoint {
	return endpoint{
		runID: runID,
		run:   runTag(runID),
		lower: uint32(e.ID),
		edge:  e,
		dir:   dir,
		name:  fmt.Sprintf("natslink: run %s %v %v", runID, e, dir),
	}
}

// inSetup is e in setup n of its run (Options.Setup; 0: e): the subjects, the run tag and
// the name say the setup too, so that a frame of another setup is refused.
func (e endpoint) inSetup(n int) endpoint {
	if n == 0 {
		return e
	}
	e.setup = n
	e.run = runTag(e.runID + ".setup." + strconv.Itoa(n))
	e.name = fmt.Sprintf("natslink: run %s setup %d %v %v", e.runID, n, e.edge, e.dir)
	return e
}

// linkOfID names the link of a frame's id as e's subjects number links: a chain link
// "link l-(l+1)" where e is one (the id of every chain link is its lower node), else
// "the link of id n" (a skip's id alone does not say its nodes).
func linkOfID(id uint32, e *endpoint) string {
	if e.edge == channels.ChainEdge(e.edge.Lower) {
		return fmt.Sprintf("link %d-%d", id, uint64(id)+1)
	}
	return fmt.Sprintf("the link of edge %d", id)
}

func runTag(runID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(runID))
	return h.Sum64()
}

// check reports whether a parsed frame of type want belongs to e.
func (e *endpoint) check(h *header, want frameType) error {
	switch {
	case h.typ != want:
		return fmt.Errorf("%s: a %v frame where a %v frame belongs", e.name, h.typ, want)
	case h.run != e.run:
		return fmt.Errorf("%s: frame of another run (run tag %016x; run %s has %016x)", e.name, h.run, e.runID, e.run)
	case h.lower != e.lower || h.dir != e.dir:
		return fmt.Errorf("%s: frame of %s %v on this link's subject", e.name, linkOfID(h.lower, e), h.dir)
	case want != frameData && h.elem != 0:
		return fmt.Errorf("%s: a %v frame with an element type (%v); only data frames carry values", e.name, h.typ, h.elem)
	}
	return nil
}

// slot is one buffer of an end's pool and whose it is now.
type slot[T tensor.Float] struct {
	buf  *channels.Buffer[T]
	full []T
	busy bool // sender: acquired; receiver: being filled or held by the receiver
}

// newSlots allocates n buffers of maxRows x maxCols in one slab.
func newSlots[T tensor.Float](n, maxRows, maxCols int) []slot[T] {
	size := maxRows * maxCols
	slab := make([]T, n*size)
	slots := make([]slot[T], n)
	for i := range slots {
		full := slab[i*size : (i+1)*size : (i+1)*size]
		slots[i] = slot[T]{buf: &channels.Buffer[T]{Rows: maxRows, Cols: maxCols, Data: full}, full: full}
	}
	return slots
}

// find returns the index of b in slots, or -1.
func find[T tensor.Float](slots []slot[T], b *channels.Buffer[T]) int {
	for i := range slots {
		if slots[i].buf == b {
			return i
		}
	}
	return -1
}

// checkShape checks a direction's max shape as channels.NewInProcess does.
func checkShape(name string, buffers, maxRows, maxCols int) error {
	const maxFloats = 1 << 31
	if maxRows < 1 || maxCols < 1 {
		return fmt.Errorf("%s: max shape %dx%d must be at least 1x1", name, maxRows, maxCols)
	}
	if maxRows > maxFloats/maxCols || maxRows*maxCols > maxFloats/buffers {
		return fmt.Errorf("%s: %d buffers of %dx%d exceed %d values", name, buffers, maxRows, maxCols, maxFloats)
	}
	return nil
}

// decoder turns a direction's data frames back into messages, in the
// receiver's pool. It is pure (no NATS), so the fuzz test drives the code
// the receiver runs. Any error leaves the link broken: the receiver keeps it.
type decoder[T tensor.Float] struct {
	endpoint
	kind             channels.Kind
	elem             elemType // T's: a frame of another is refused
	maxRows, maxCols int
	slots            []slot[T]

	open *opener // nil without a key
	asm  chunks  // the chunks of the message being received
	cur  int     // the slot it fills, -1 if none
	sent int64   // the sender's clock at the Send of the last message completed
}

func newDecoder[T tensor.Float](e endpoint, buffers, maxRows, maxCols int) *decoder[T] {
	kind := channels.Prediction
	if e.dir == channels.Down {
		kind = channels.Error
	}
	elem := elemOf[T]()
	d := &decoder[T]{endpoint: e, kind: kind, elem: elem, maxRows: maxRows, maxCols: maxCols, slots: newSlots[T](buffers, maxRows, maxCols), cur: -1}
	d.asm = chunks{name: e.name, unit: elem.String(), describe: describeValue, synced: true}
	return d
}

// describeValue names a data frame's value in errors.
func describeValue(h header) string {
	if h.payload != channels.Full {
		return fmt.Sprintf("a %v payload", h.payload)
	}
	return fmt.Sprintf("a %dx%d value", h.rows, h.cols)
}

// accept authenticates frame before feed reads it: a frame it refuses is
// dropped, not an error. Without a key every frame goes on to feed.
func (d *decoder[T]) accept(frame []byte) reason {
	if d.open == nil {
		return accepted
	}
	return d.open.open(frame)
}

// feed decodes one data frame that accept let through. done says that it completed a message, which
// holds one of the pool's buffers until release.
func (d *decoder[T]) feed(frame []byte) (m channels.Message[T], done bool, err error) {
	var h header
	if err := parseHeader(frame, &h, d.open != nil); err != nil {
		return m, false, fmt.Errorf("%s: %w", d.name, err)
	}
	if err := d.check(&h, frameData); err != nil {
		return m, false, err
	}
	switch {
	case h.elem != d.elem:
		// The two ends compute in different precisions: a setting, not a lost frame.
		return m, false, fmt.Errorf("%s: message %d carries %v values; this end receives %v (the processes run in different precisions)", d.name, h.seq, h.elem, d.elem)
	case h.kind != d.kind:
		return m, false, fmt.Errorf("%s: carries %v messages, not %v (message %d)", d.name, d.kind, h.kind, h.seq)
	case h.payload > channels.Unchanged:
		return m, false, fmt.Errorf("%s: message %d has an unknown payload %v", d.name, h.seq, h.payload)
	case h.rows < 1 || h.cols < 1 || h.rows > uint32(d.maxRows) || h.cols > uint32(d.maxCols):
		return m, false, fmt.Errorf("%s: message %d is %dx%d; the pool's buffers are %dx%d", d.name, h.seq, h.rows, h.cols, d.maxRows, d.maxCols)
	case int64(int(h.step)) != h.step:
		return m, false, fmt.Errorf("%s: message %d: step %d does not fit an int", d.name, h.seq, h.step)
	case h.body%uint32(d.elem) != 0:
		return m, false, fmt.Errorf("%s: message %d: body of %d bytes is not a whole number of %vs", d.name, h.seq, h.body, d.elem)
	}
	var total uint64
	if h.payload == channels.Full {
		total = uint64(h.rows) * uint64(h.cols)
	}
	n := uint64(h.body / uint32(d.elem))
	begins, err := d.asm.admit(&h, n, total)
	if err != nil {
		return m, false, err
	}
	if begins {
		s := -1
		for i := range d.slots {
			if !d.slots[i].busy {
				s = i
				break
			}
		}
		if s < 0 {
			return m, false, fmt.Errorf("%s: message %d beyond the sender's credits: all %d buffers are held", d.name, h.seq, len(d.slots))
		}
		d.slots[s].busy = true
		d.cur = s
	} else if c := &d.asm.first; h.step != c.step || h.rows != c.rows || h.cols != c.cols || h.payload != c.payload {
		return m, false, fmt.Errorf("%s: message %d: chunk %d (step %d, %dx%d) disagrees with its first chunk (step %d, %dx%d)", d.name, h.seq, h.chunk, h.step, h.rows, h.cols, c.step, c.rows, c.cols)
	} else if h.sent != c.sent {
		return m, false, fmt.Errorf("%s: message %d: chunk %d was sent at %d, its first chunk at %d", d.name, h.seq, h.chunk, h.sent, c.sent)
	}
	sl := &d.slots[d.cur]
	getFloats(sl.full[h.offset:uint64(h.offset)+n], frame[headerSize:])
	if !d.asm.take(&h, n) {
		return m, false, nil
	}
	d.cur = -1
	d.sent = h.sent
	b := sl.buf
	b.Rows, b.Cols, b.Data = int(h.rows), int(h.cols), sl.full
	return channels.Message[T]{Kind: h.kind, Step: int(h.step), Payload: h.payload, Buf: b}, true, nil
}

// release gives back the buffer of a received message; it panics on misuse,
// as the in-process Release does.
func (d *decoder[T]) release(m channels.Message[T]) {
	if m.Buf == nil {
		panic(fmt.Sprintf("%s: Release of a message without a buffer (%v, step %d)", d.name, m.Kind, m.Step))
	}
	i := find(d.slots, m.Buf)
	if i < 0 {
		panic(fmt.Sprintf("%s: Release of a buffer from another pool (step %d)", d.name, m.Step))
	}
	if !d.slots[i].busy || i == d.cur {
		panic(fmt.Sprintf("%s: Release of the %v message of step %d twice, or of a message not received", d.name, m.Kind, m.Step))
	}
	d.slots[i].busy = false
}

// checkCredit reads a credit frame (authenticated already when auth) for a
// sender that has sent `sent` messages from a pool of `buffers`, and returns
// the limit it grants.
func (e *endpoint) checkCredit(frame []byte, sent uint64, buffers int, auth bool) (uint64, error) {
	var h header
	if err := parseHeader(frame, &h, auth); err != nil {
		return 0, fmt.Errorf("%s: credit: %w", e.name, err)
	}
	if err := e.check(&h, frameCredit); err != nil {
		return 0, err
	}
	if h.body != 0 {
		return 0, fmt.Errorf("%s: credit frame with a body of %d bytes", e.name, h.body)
	}
	if h.seq > sent+uint64(buffers) {
		return 0, fmt.Errorf("%s: credit up to message %d, beyond the %d buffers past the %d sent", e.name, h.seq, buffers, sent)
	}
	return h.seq, nil
}

// controlFrame writes a header-only hello or credit frame of e into b.
func (e *endpoint) controlFrame(b []byte, typ frameType, limit uint64) []byte {
	b = b[:headerSize]
	putHeader(b, &header{typ: typ, dir: e.dir, lower: e.lower, run: e.run, seq: limit})
	return b
}

// hostLittleEndian: on such hosts (amd64, arm64) a []float64's or
// []float32's memory is the wire format already, and the codec is one copy.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf is the memory of v, len(v) x its element size bytes.
func bytesOf[T tensor.Float](v []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(elemOf[T]()))
}

// putFloats writes src little-endian into dst[:size*len(src)].
func putFloats[T tensor.Float](dst []byte, src []T) {
	if hostLittleEndian && len(src) > 0 {
		b := bytesOf(src)
		copy(dst[:len(b)], b)
		return
	}
	putFloatsPortable(dst, src)
}

// getFloats reads dst little-endian from src[:size*len(dst)].
func getFloats[T tensor.Float](dst []T, src []byte) {
	if hostLittleEndian && len(dst) > 0 {
		copy(bytesOf(dst), src[:len(dst)*int(elemOf[T]())])
		return
	}
	getFloatsPortable(dst, src)
}

func putFloatsPortable[T tensor.Float](dst []byte, src []T) {
	switch v := any(src).(type) {
	case []float32:
		dst = dst[:4*len(v)]
		for i, f := range v {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(f))
		}
	case []float64:
		dst = dst[:8*len(v)]
		for i, f := range v {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(f))
		}
	}
}

func getFloatsPortable[T tensor.Float](dst []T, src []byte) {
	switch v := any(dst).(type) {
	case []float32:
		src = src[:4*len(v)]
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case []float64:
		src = src[:8*len(v)]
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
		}
	}
}
