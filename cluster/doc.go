// Package cluster runs a pcnet network whose nodes live in worker processes, on one
// machine or several, linked over NATS (channels/natslink), and bit for bit equal to the
// network in one process.
//
// # Roles
//
// A worker (Serve) hosts a contiguous range of nodes as a pcnet.Part: their theta and
// optimiser states, their goroutines, and the links to the neighbouring workers' nodes.
// The coordinator (Coordinator, a train.Learner) hosts no node: it owns the data, the
// loss, checkpoints, progress and metrics. For each batch it sends node 0's worker the
// batch, node H+1's worker the labels and every worker the batch size; each worker runs
// its part and reports back (the loss from node H+1's, the fault if any, and every
// hosted node's observer statistics, which the coordinator replays into its
// pcnet.Observer, so that its metrics show the whole network as in one process). For a
// checkpoint, Sync fetches theta and the optimiser states from the workers; on resume,
// the first Step sends them the checkpoint's.
//
// # Layer graphs
//
// The network may be any layer graph of docs/design.md §11 (NewGraphCoordinator,
// StartGraph): a chain of dense layers, long skips, μPC's residual network of
// pre-activation maps. Workers host contiguous ranges of its nodes; a long skip whose
// ends two workers host is a link between them (natslink, by edge id) like any chain
// link. The setup names the graph by spec.Run's Arch, Param and Skips and carries the
// hosted maps' weights (no bias for a pre-activation map); a worker checks every size,
// its graph's included, before it allocates, and builds its own nodes' maps alone
// (graph.go). The coordinator's copy of theta is Maps (Layers when every map is dense).
//
// # Precision
//
// A run computes in one precision, float32 or float64 (spec.Run.Precision,
// docs/design.md §6). The coordinator is a Coordinator[T] on layers of T; its setup
// names T in the network it sends (message.Net.Precision), and a worker, which has no
// precision of its own, builds a pcnet.Part[T] and a natslink.Transport[T] of it (one
// switch, worker.setup). Theta, the optimiser states, the batch and the links' values
// travel as T, 4 bytes a float32 value: a float32 run is bit for bit the same run in one
// process, and moves half the payload bytes. A worker checks that a setup's theta and a
// batch's inputs are as many bytes as their shapes make in the setup's precision.
//
// # Starting and ending a run
//
// Start starts a run and returns a Cluster, its Coordinator and what it started: with
// StartOptions.Workers, an embedded NATS server on 127.0.0.1 (package natsconn) and that
// many worker processes of StartOptions.Executable (`pcnet worker`, the server's token
// in TokenEnv and a fresh run key in KeyEnv, each in a process group of its own); with
// StartOptions.Dial, a connection to workers started elsewhere, which hold the run key
// StartOptions.Key (LoadKey: a file or an environment variable). It returns once every worker has joined.
// Cluster.Close ends it in order: the coordinator tells the workers to stop, the
// processes are waited for (killed after the timeout), the connection and the server
// close. A program that brings its own connection and workers (the tests, a benchmark)
// uses NewCoordinator and Serve directly.
//
// # Subjects
//
// Every subject lies under pcnet.<run>. (natslink.Subject makes them all, docs/design.md
// §9), so that a server can confine a run's users to pcnet.<run>.>; a worker is addressed
// by the first node it hosts, lo:
//
//	pcnet.<run>.node.<lo>.cmd       coordinator -> worker: setup, batch, fetch, stop
//	pcnet.<run>.node.<lo>.report    worker -> coordinator: hello, ready, report, state, failed
//	pcnet.<run>.node.<lo>.beat      the worker's heartbeat
//	pcnet.<run>.coordinator.beat    the coordinator's heartbeat
//	pcnet.<run>.claim               a coordinator's claim on the run ID (claim.go)
//	pcnet.<run>.setup.<n>.link.<l>.* the links between nodes in setup n (package natslink)
//
// A message is gob-encoded with its values as raw little-endian bytes of the run's type
// (bit for bit), and
// sent in natslink's message frames (natslink.MessageWriter), chunked below the server's
// max payload as a link's values are, which NATS delivers in order. Each subject numbers
// its messages, and the receiver (natslink.MessageReader) refuses a chunk or a message
// that is foreign, lost, stale or reordered, with the same checks as a link's.
//
// # Keys, claims and bounds
//
// A run's processes share a run key (KeySize random bytes) that no one else holds. It
// signs the heartbeats (HMAC-SHA256 of the subject and a counter that only grows), so
// that a client without it can neither forge a beat nor replay one to keep a dead peer
// alive; every sender and receiver of natslink's frames (commands and reports
// included) is given it too, for their MAC, which is natslink's. A coordinator claims its
// run ID before it subscribes to or sends anything, by a request on the claim subject
// that the holder answers (claim.go), and a second coordinator of the ID fails at once on
// that answer, having sent nothing. Every command carries
// its coordinator's random ID; a worker takes the commands of the coordinator that set
// it up and drops the others', assembling each coordinator's frames apart (the
// Pcnet-Coordinator header) so that a foreign stream cannot break its own. A receiver
// bounds what it assembles by what its subject can legitimately carry (limits.go), and a
// worker checks every size a setup or a batch declares before anything is allocated by
// it. Whatever is dropped is counted by kind and reason; the workers send their counts
// with their reports and the coordinator hands them all to Options.Rejected
// (pcnet_rejected_messages_total), with one warning line per kind.
//
// # Failure
//
// Both sides send a heartbeat every Timeout/5. A worker silent for Timeout (killed, its
// machine gone) stops the coordinator with one error naming the worker and its nodes,
// unless the server itself does not answer a round trip, which is then named instead. A
// worker process that Start started and that ends stops it at once, while it waits for
// the workers to join or for a reply, with one error naming the worker and how its
// process ended (its own report of a failure, if one follows within a short grace,
// instead); a
// batch that does not end within Options.BatchTimeout stops it however often the workers
// beat. A worker reports a failure, a bad command during a batch included, to the
// coordinator at once, and one that did not finish its run (stopped before its setup,
// any failure) ends with an error. Since theta moves only in the workers and a
// checkpoint is written only from a completed Sync, the last checkpoint is intact, and a run resumed from it with fresh
// workers ends exactly where an uninterrupted one does. A coordinator silent for
// Timeout makes every worker exit (a batch waiting on it is cancelled). A lost
// connection to the NATS server ends either side at once with an error naming the
// server: core NATS may drop messages across a reconnect, and only a restart from a
// checkpoint is exact, so neither side reconnects.
package cluster
