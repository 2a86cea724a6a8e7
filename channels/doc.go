// Package channels holds the typed links between neighbouring layers of a
// pcnet network.
//
// Node l sends predictions p_{l+1}(t) UP to node l+1 and receives the errors
// pi_{l+1} e_{l+1}(t) coming DOWN from it. A [Link] is the pair of directions
// between node Lower and node Lower+1; each direction has a [Sender] held by
// one node and a [Receiver] held by the other, each used by one goroutine.
//
// # Messages and buffers
//
// A [Message] carries its [Kind], its step index and a [Buffer], a row-major
// Rows x Cols block of float32 or float64 values: the element type is the type
// parameter of every link type here, so a network's links carry its precision.
// Buffers belong to a pool of the direction, allocated once when the link is
// made, so a step in steady state allocates nothing. The value goes round the pool in four moves:
//
//	b, err := s.Acquire(ctx, rows, cols) // sender: take a free buffer
//	// ... fill b.Value() ...
//	err = s.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: t, Buf: b})
//	m, err := r.Recv(ctx) // receiver: m.Buf is its to read
//	// ... read m.Buf.Value() ...
//	r.Release(m) // back to the sender's pool
//
// After Send the sender must not touch the buffer, and after Release neither
// must the receiver: the buffer may already be refilled for a later step.
//
// # Flow control
//
// Each direction has a fixed number of buffers (credits), 2 by default (pcnet
// uses 1: its nodes answer every message, so a second buffer never helps). A
// sender that is that many messages ahead of its receiver blocks in Acquire
// until the receiver releases one: that back-pressure is what stops a fast
// layer from overwriting a value still being read, and it bounds how far
// ahead of its neighbour a layer can run. Send and Release never block.
//
// # Cancellation
//
// Acquire, Send and Recv check ctx first and return ctx.Err() if it is done,
// even when a buffer or message is ready, so an actor loop always notices
// cancellation; while blocked they return ctx.Err() as soon as ctx is done.
// A cancelled call leaves the link as it was, but a network stopped in the
// middle of a step leaves buffers acquired and messages in flight: make new
// links for the next run rather than reusing these.
//
// # Misuse
//
// Each buffer records whose pool it is and where it is in the round
// (free, acquired, sent) with a generation number, at the cost of three
// uncontended atomics per message. Sending a buffer twice, or one from another link, is
// an error of Send; releasing a message twice, one not received, or one from
// another link or direction is a programmer error, and Release panics with a
// message naming the link and step.
//
// # Transports
//
// [Transport] makes links; [NewInProcess] makes them out of Go channels, and
// package channels/natslink carries them over NATS between processes. A
// transport of another package builds its links with [NewLink], leaving nil
// the ends held by other processes. [Link.Stats] counts the messages and
// payload bytes sent in each direction; a transport between processes
// reports, for each direction it receives, its [Traffic] too: the counters
// and a [Latency] histogram, which package metrics exposes without knowing
// the transport.
package channels
