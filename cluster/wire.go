package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/channels/natslink"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// What a message is.
type msgKind uint8

const (
	kindHello  msgKind = iota + 1 // worker -> coordinator: here I am, for nodes [Lo, Hi]
	kindSetup                     // coordinator -> worker: the network, the nodes' theta and optimiser states
	kindReady                     // worker -> coordinator: the part is built and linked
	kindBatch                     // coordinator -> worker: run one batch
	kindReport                    // worker -> coordinator: the part's report of a batch
	kindFetch                     // coordinator -> worker: send theta and the optimiser states
	kindState                     // worker -> coordinator: theta and the optimiser states
	kindStop                      // coordinator -> worker: the run is over, exit
	kindFailed                    // worker -> coordinator: the worker failed and exits
)

func (k msgKind) String() string {
	names := [...]string{"", "hello", "setup", "ready", "batch", "report", "fetch", "state", "stop", "failed"}
	if int(k) < len(names) && k > 0 {
		return names[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// message is every command and report; each kind uses its own fields. Values of the
// run's precision travel as raw little-endian bytes of their type (floatBytes: 4 a
// float32, 8 a float64), bit for bit; the setup's Net.Precision says which.
type message struct {
	Kind msgKind
	Seq  uint64 // batch or fetch sequence number; a reply carries its command's
	// From is the coordinator that sent a command (its claim's ID); a worker takes the
	// commands of the coordinator that set it up and drops the others'.
	From coordID

	// hello, failed
	Lo, Hi int
	Host   string
	PID    int
	Err    string

	// setup
	Net       spec.Run     // the network's shape, precision and pcnet's settings, as is (Batch: MaxBatch)
	Observe   bool         // whether the workers report their nodes' statistics
	Layers    []layerState // theta_l of the hosted nodes, from Lo
	Delay     time.Duration
	LinkSetup int // scopes the links' subjects within the run (natslink.Options.Setup)

	// fetch
	Updates bool // the last batch's weight updates rather than theta and the optimiser states

	// batch
	Rows   int
	X      []byte // floatBytes of the Rows x n_0 batch, for node 0's worker
	Labels []int  // for node H+1's worker
	Learn  bool

	// report
	Loss      uint64 // math.Float64bits
	Nodes     []nodeReport
	Links     []channels.Traffic // of the links the worker receives over NATS, since its last report
	Fault     string
	FaultNode int // the node of Fault (pcnet.PartReport.FaultNode)
	NonFinite bool
	// the messages the worker dropped since its last report (its own and its links')
	Rejected []Rejected
}

// coordID names a coordinator: random, made when it claims its run (claim.go).
type coordID [16]byte

func (id coordID) String() string { return hex.EncodeToString(id[:]) }
func (id coordID) isZero() bool   { return id == coordID{} }

// fromHeader is the NATS header that names the coordinator of a command's frames, so that
// a worker can assemble its own coordinator's apart from any other's (inbox.bound). The
// message itself carries the ID again (message.From), which is what a worker trusts.
const fromHeader = "Pcnet-Coordinator"

// layerState is one weight layer's theta and its optimiser states (weight, bias).
type layerState struct {
	W, B []byte // floatBytes
	Opt  [2]optState
}

type optState struct {
	Steps int
	// Buffers are floatBytes by buffer name, in name order. A slice, not a map: gob
	// sizes a map by the count its sender declares before it reads one entry
	// (reflect.MakeMapWithSize in encoding/gob's decodeMap), so a body of 283 bytes
	// declaring 4e9 buffers made the decoder allocate tens of GB; a slice grows as its
	// elements arrive (TestDecodeMessageBounded).
	Buffers []namedBuffer
}

type namedBuffer struct {
	Name string
	B    []byte
}

// nodeReport is pcnet.NodeReport on the wire.
type nodeReport struct {
	Node  int
	Steps []stepStats
	End   pcnet.NodeStats
}

type stepStats struct {
	Step         int
	ErrorMaxAbs  uint64 // Float64bits
	ChangeMaxAbs uint64
	Energy       uint64
}

// elemSize is the size of a T on the wire: 4 bytes a float32, 8 a float64.
func elemSize[T tensor.Float]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// floatBytes is v little-endian, elemSize[T]() bytes a value.
func floatBytes[T tensor.Float](v []T) []byte {
	b := make([]byte, elemSize[T]()*len(v))
	switch v := any(v).(type) {
	case []float32:
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
	case []float64:
		for i, f := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(f))
		}
	}
	return b
}

// floatsInto decodes b into dst, which must have exactly its length.
func floatsInto[T tensor.Float](dst []T, b []byte, what string) error {
	if len(b) != elemSize[T]()*len(dst) {
		return fmt.Errorf("%s: %d bytes for %d %ss", what, len(b), len(dst), typeName[T]())
	}
	switch dst := any(dst).(type) {
	case []float32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return nil
}

func floatsOf[T tensor.Float](b []byte, what string) ([]T, error) {
	if size := elemSize[T](); len(b)%size != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %ss", what, len(b), typeName[T]())
	}
	v := make([]T, len(b)/elemSize[T]())
	return v, floatsInto(v, b, what)
}

// typeName is "float32" or "float64", in errors.
func typeName[T tensor.Float]() string { return spec.PrecisionOf[T]().Type() }

func toNodeReports(rs []pcnet.NodeReport) []nodeReport {
	out := make([]nodeReport, len(rs))
	for i, r := range rs {
		out[i] = nodeReport{Node: r.Node, End: r.End}
		for _, s := range r.Steps {
			out[i].Steps = append(out[i].Steps, stepStats{Step: s.Step, ErrorMaxAbs: math.Float64bits(s.ErrorMaxAbs), ChangeMaxAbs: math.Float64bits(s.ChangeMaxAbs), Energy: math.Float64bits(s.Energy)})
		}
	}
	return out
}

func (r nodeReport) report() pcnet.NodeReport {
	out := pcnet.NodeReport{Node: r.Node, End: r.End}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, pcnet.StepStats{Step: s.Step, ErrorMaxAbs: math.Float64frombits(s.ErrorMaxAbs), ChangeMaxAbs: math.Float64frombits(s.ChangeMaxAbs), Energy: math.Float64frombits(s.Energy)})
	}
	return out
}

// captureLayer copies a map and its optimiser states for the wire (a map without a bias,
// layer.PreAct, has no bias bytes).
func captureLayer[T tensor.Float](d layer.Map[T], opt [2]*optim.State[T]) layerState {
	p := d.Params()
	s := layerState{W: floatBytes(p[0]), B: floatBytes(p[1])}
	for i, st := range opt {
		if st == nil {
			continue
		}
		bufs := st.Buffers()
		s.Opt[i] = optState{Steps: st.Steps()}
		for _, name := range slices.Sorted(maps.Keys(bufs)) {
			s.Opt[i].Buffers = append(s.Opt[i].Buffers, namedBuffer{name, floatBytes(bufs[name])})
		}
	}
	return s
}

// restoreLayer sets d and its optimiser states from s; l names the layer in errors.
func restoreLayer[T tensor.Float](d layer.Map[T], opt [2]*optim.State[T], s layerState, l int) error {
	p := d.Params()
	if err := floatsInto(p[0], s.W, fmt.Sprintf("layer %d weight", l)); err != nil {
		return err
	}
	if err := floatsInto(p[1], s.B, fmt.Sprintf("layer %d bias", l)); err != nil {
		return err
	}
	for i, st := range opt {
		if st == nil {
			continue
		}
		bufs := map[string][]T{}
		for _, b := range s.Opt[i].Buffers {
			if _, ok := bufs[b.Name]; ok {
				return fmt.Errorf("layer %d optimiser state: buffer %q twice", l, b.Name)
			}
			v, err := floatsOf[T](b.B, fmt.Sprintf("layer %d optimiser buffer %s", l, b.Name))
			if err != nil {
				return err
			}
			bufs[b.Name] = v
		}
		if err := st.Restore(s.Opt[i].Steps, bufs); err != nil {
			return fmt.Errorf("layer %d optimiser state: %w", l, err)
		}
	}
	return nil
}

// Subjects of a run (docs/design.md §9), all under pcnet.<run>. (natslink.Subject); a
// worker is addressed by the first node it hosts.
func cmdSubject(run string, lo int) string    { return nodeSubject(run, lo, "cmd") }
func reportSubject(run string, lo int) string { return nodeSubject(run, lo, "report") }
func beatSubject(run string, lo int) string   { return nodeSubject(run, lo, "beat") }
func coordinatorBeatSubject(run string) string {
	return natslink.Subject(run, "coordinator", "beat")
}
func nodeSubject(run string, lo int, what string) string {
	return natslink.Subject(run, "node", strconv.Itoa(lo), what)
}

// sender publishes messages gob-encoded in natslink's message frames, chunked below
// the server's max payload: one natslink.MessageWriter per subject, which numbers the
// subject's messages in order, so that its receiver refuses one lost, stale or
// reordered.
type sender struct {
	run      string
	key      []byte                  // the run key, for natslink's frames (MessageWriter)
	from     coordID                 // a coordinator's: its frames carry fromHeader
	publish  func(m *nats.Msg) error // nc.PublishMsg; tests intercept it
	maxFrame int

	mu      sync.Mutex
	writers map[string]*natslink.MessageWriter
}

// natsHeaderRoom is what a frame leaves of the server's max payload for the NATS
// header beside it (the coordinator's ID, fromHeader: about 70 bytes), which the
// server counts in the payload.
const natsHeaderRoom = 256

func newSender(nc *nats.Conn, run string, key []byte) *sender {
	return &sender{run: run, key: key, publish: nc.PublishMsg, maxFrame: int(nc.MaxPayload()) - natsHeaderRoom, writers: map[string]*natslink.MessageWriter{}}
}

// send publishes m on subject, the subject of node lo's worker.
func (s *sender) send(subject string, lo int, m *message) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return fmt.Errorf("encoding the %v message: %w", m.Kind, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writers[subject]
	if w == nil {
		var err error
		if w, err = natslink.NewMessageWriter(s.run, lo, s.maxFrame, natslink.MessageOptions{Subject: subject, Key: s.key}); err != nil {
			return err
		}
		s.writers[subject] = w
	}
	var hdr nats.Header
	if !s.from.isZero() {
		hdr = nats.Header{fromHeader: []string{s.from.String()}}
	}
	err := w.Write(buf.Bytes(), func(frame []byte) error {
		return s.publish(&nats.Msg{Subject: subject, Header: hdr, Data: frame})
	})
	if err != nil {
		return fmt.Errorf("publishing the %v message on %s: %w", m.Kind, subject, err)
	}
	return nil
}

// receiver assembles the messages of one subject and decodes them.
type receiver struct {
	r     *natslink.MessageReader
	limit func() int64 // bytes of an assembled message, as the receiver knows them now
}

// newReceiver reads run's messages on subject, that of node lo, authenticated under key
// (frames without its MAC, or replayed, are dropped and counted in rejects), of at most
// limit bytes: checked here on the assembled message, since the limit changes with the
// setup; natslink's bound on a message stops one beyond natslink.MaxMessage at its first
// chunk.
func newReceiver(run string, lo int, subject string, key []byte, limit func() int64, rejects *natslink.Rejects) (*receiver, error) {
	r, err := natslink.NewMessageReader(run, lo, natslink.MessageOptions{Subject: subject, Key: key, MaxMessage: natslink.MaxMessage, Rejects: rejects})
	if err != nil {
		// Only options can be wrong here, and Start, Serve and NewCoordinator checked
		// the key's size before any subscription: a broken invariant, not bad input.
		panic(fmt.Sprintf("cluster: a message reader on %s: %v", subject, err))
	}
	return &receiver{r: r, limit: limit}, nil
}

// feed takes one frame; it returns the message when its last chunk has arrived.
func (r *receiver) feed(frame []byte) (*message, error) {
	body, done, err := r.r.Feed(frame)
	if err != nil || !done {
		return nil, err
	}
	if limit := r.limit(); int64(len(body)) > limit {
		return nil, fmt.Errorf("a message of %d bytes; the most this subject carries now is %d", len(body), limit)
	}
	return decodeMessage(body)
}

// decodeMessage decodes an assembled message's body (gob). Its sizes are whatever the
// sender declared: checkSetup and checkBatch bound them before anything is allocated.
func decodeMessage(body []byte) (*message, error) {
	m := new(message)
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(m); err != nil {
		return nil, fmt.Errorf("undecodable message: %w", err)
	}
	return m, nil
}
