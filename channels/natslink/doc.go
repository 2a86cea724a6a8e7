// Package natslink carries pcnet's links between processes over NATS: a
// [Transport] that implements channels.Transport with the in-process
// semantics (message kinds, step tags, payloads, credits, back-pressure,
// cancellation) over a *nats.Conn that its caller made (package
// cluster/natsconn has an embedded server and a dialer).
//
// # Processes and ends
//
// Each process of a run makes a Transport for the run's ID and the range of
// nodes it hosts, [Options.Lo] to [Options.Hi]. Link(l, ...) returns a
// channels.Link whose ends this process holds are real and the others nil:
// the up sender and down receiver when node l is hosted, the up receiver and
// down sender when node l+1 is. Edge(e, ...) does the same for any edge of a
// layer graph (docs/design.md §11), by its lower and upper node: a long skip
// whose ends two processes host is a link between them like a chain link,
// named by the edge's id. A link of two hosted nodes is in-process
// (channels.NewInProcess) unless [Options.LocalOverNATS]. The node cores
// never learn which transport carries their messages.
//
// # Subjects
//
// Every subject is scoped by the run (docs/design.md §9):
//
//	pcnet.<run>.link.<id>.up           predictions, lower node -> upper node
//	pcnet.<run>.link.<id>.down         errors, upper -> lower
//	pcnet.<run>.link.<id>.<dir>.credit credit limits, receiver -> sender
//	pcnet.<run>.link.<id>.<dir>.hello  a sender asking for its limit
//
// where id is the edge's id (channels.Edge.ID): l for the chain link l -> l+1,
// as before graphs, and H+1+k for a graph's long skip k.
//
// or, with [Options.Setup] n > 0, pcnet.<run>.setup.<n>.link... ([Subject]
// makes every subject of a run, package cluster's too: all lie under
// pcnet.<run>.), so two runs on one server never see each other's messages
// and a server can confine a run's users to pcnet.<run>.>. The header of
// every frame names the run (a 64-bit hash of its ID), the link and the
// direction again, and a frame that names another is an error.
//
// # Wire format
//
// A frame is a 72-byte little-endian header (magic "PCNL", version, frame
// type, direction, kind, payload, flags, element type, link, run tag,
// sequence number, step, rows, cols, chunk index and count, offset, body
// length, the time of the Send; the layout is in wire.go) followed by the
// body: the value's float32s or float64s, row-major, little-endian, bit for
// bit (NaN payloads, -0 and subnormals included), and, in a run with a key,
// a 40-byte trailer (below).
//
// A Transport[T] carries values of T, the run's precision (float32 or
// float64), and its data frames say which: a float32 run sends half the
// payload bytes. A receiver refuses a frame of the other type: it breaks the
// link with one error naming both types (the processes run in different
// precisions), or, with a key, is dropped as oversize when it is longer than
// any frame of the receiver's type can be.
// A Zero or Unchanged message is a header alone: the buffer is still the
// sender's credit, but its content is not read.
//
// # Authentication
//
// A run's processes share a secret key of [KeySize] bytes ([Options.Key],
// [MessageOptions.Key]). Every frame they publish, data, credits, hellos
// and message frames alike, carries a trailer: the publisher's random salt
// (16 bytes), its frame counter (8) and an AES-GMAC tag (16) of the header,
// body, salt and counter under a subkey derived from the key, the salt and
// the subject (auth.go has the construction and why it is safe from nonce
// reuse; docs/design.md §9 the layout byte by byte; internal/gmac computes
// the tags, crypto/cipher's GCM's bit for bit, faster). A receiver
// authenticates a frame before it reads any field of it, and drops, without
// breaking anything, a frame that fails (mac), repeats or precedes a
// counter it has accepted (replay), is authentic but of another publisher
// session (stale), cannot be a frame (malformed) or is longer than any it
// can get (oversize). [Rejects] counts them by kind and reason and logs
// one line per kind; the run goes on with exactly the numbers it would have
// had, and a missing frame is still an error. Without a key (tests and
// benchmarks that say so) frames have no trailer and any bad frame breaks
// its link.
//
// # Chunking
//
// A message larger than a frame (the server's max payload, 1 MiB by default,
// or [Options.MaxChunkBytes]) is sent as consecutive frames of the same
// sequence number, each naming its chunk, the chunk count and its offset; a
// 64 x 4096 float64 value (2 MiB) takes three, a float32 one two. NATS
// keeps one publisher's order on a subject, so the receiver assembles the
// chunks in its buffer as they come. With a key (and no MaxChunkBytes) a
// frame carries at most 128 KiB of values, so that the MACs of a large
// value overlap its transfer: the sender seals the next chunk while the
// server forwards one, and the receiver opens each chunk while its client
// reads the next; a 64 x 1024 float64 value (512 KiB) takes four frames, a
// float32 one two.
//
// # Messages
//
// The same frames carry byte messages of any content on a subject of the
// caller's: package cluster's gob-encoded commands, reports and heartbeats
// (an empty message). A [MessageWriter] numbers the messages of its subject
// and chunks them as a link's values are (frame type 4, offsets in bytes,
// every chunk but the last as long as the first and at least 1 KiB, at most
// [MaxMessage] bytes in all); a [MessageReader] authenticates them as a
// link's receiver does and assembles them with its checks, so that a
// truncated, lost or reordered chunk or message of its writer is one error.
// It refuses a message beyond the bound its caller gives
// ([MessageOptions.MaxMessage]: the most its writer can legitimately send)
// from the first frame's header, and its buffer grows with the bytes that
// arrive, never with what a header claims. [CheckRun] is the one check of a run ID and
// [WatchConn] the one watcher of a connection's loss, for the transport and
// for package cluster alike.
//
// # Credits
//
// Each direction has [Options.Buffers] credits, as in-process. The receiver
// holds that many buffers and publishes a cumulative credit limit (buffers +
// messages released) when it subscribes and on every Release; the sender may
// send message n only while n < limit, so it is never more than its credits
// ahead and Acquire blocks, as in-process, until the receiver releases. A
// cumulative limit makes a repeated or late credit harmless. The receiver's
// first grant is lost if the sender subscribed later, so a sender without
// one asks for it (hello, with a growing interval) while it waits: processes
// may make their links in any order.
//
// # Errors and failure
//
// The receiver checks every frame it has not dropped (see Authentication):
// magic, version, type, element type, run, link, direction, kind, payload, shape against
// its pool, the sequence number (a message lost, duplicated or reordered),
// chunk order, offsets and sizes (truncated frames, size mismatches), and
// that the sender keeps within its credits. The first bad frame breaks the
// link: Recv returns an error that
// names the link and what is wrong, then and on every later call; nothing
// panics. The step is carried, not checked: pcnet's steps restart each
// batch, and the node checks the step it expects. A bad credit frame breaks
// the sending end the same way, surfacing from Acquire.
//
// A receiver's subscription queues at most the frames its credits allow
// and a margin (hellos: 64); when a flood overflows it, the client drops
// frames and the end fails at once with one error naming the slow
// consumer, since a frame of the run may be among those dropped.
//
// A lost connection (the server gone, or the connection closed) breaks
// every link of the transport: blocked and later calls return one error
// naming the run and the server. The transport does not resume after a
// reconnect: core NATS may have dropped frames with the server, and only a
// restart from a checkpoint is exact. natsconn.Dial therefore connects without
// reconnecting.
//
// # Traffic and latency
//
// Every end counts its direction's messages, payload bytes and bytes on the
// wire (each frame's header, body and trailer, every chunk; credits and
// hellos, a header and trailer each going the other way, are not counted) in
// channels.Stats.
// [Transport.TakeTraffic] adds, for each direction a process receives, a
// histogram of the messages' latencies ([channels.Latency], buckets from 10 µs to
// 1 s): a data frame carries the sender's wall clock at Send, and the
// receiver subtracts it from its own clock when Recv has the message's last
// frame. The figure is the message's time in transit as its receiver sees
// it: the publish, the server's routing, the delivery, any injected delay,
// and, when the receiving node was still busy computing
// as the message arrived, the time the message waited for it (so a slow
// receiver shows here as well as in its compute time). Processes on one
// machine read one clock, so there the figure is exact to the clock's
// resolution. Across machines it carries the difference between the two
// machines' clocks as well: NTP keeps that to about a millisecond on a LAN,
// so figures near it are not meaningful there; a latency that comes out
// negative counts as zero. A clock-free figure was the alternative: the
// time from a Send to the credit its Release sends back. But that holds
// the receiving node's whole computation on the message and a second hop,
// and cannot tell the directions apart, so it says little about the link.
// The sender's clock is read once per message, the receiver's once, and
// nothing allocates.
//
// # Allocation
//
// The transport's own code allocates nothing per message (Send encodes into
// a frame buffer of its own, Recv decodes into its pool). nats.go allocates
// three objects for each frame it delivers (the subject string, a copy of the
// payload and the Msg), four frames per round trip with their credits; an
// embedded server in the process allocates for routing them too.
//
// # Delay
//
// [Options.Delay] holds every frame a process publishes for that long before
// it leaves, in order, without making the sender wait: each hop takes that
// much longer, and the numbers carried are unchanged.
package natslink
