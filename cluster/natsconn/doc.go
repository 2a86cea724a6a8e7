// Package natsconn reaches a NATS server, and has one for a machine of its
// own: its one job is the connection that package cluster's processes and
// channels/natslink's transports run on, so that neither of them, nor any
// package that only reads their figures (metrics), links the server.
//
// # Servers
//
// [Server.Start] runs an embedded NATS server for one machine and for tests:
// it listens on 127.0.0.1 only, on a random port, and requires a random token
// made for the start; [Server.StartCluster] joins several by routes on
// 127.0.0.1, with a random route password.
//
// # Dialling and secrets
//
// Across machines any NATS server or cluster serves: [Dial] authenticates
// with a token, a user and password, an nkey seed or a creds file, over TLS
// with a CA and a client certificate, taking secrets from a file or an
// environment variable ([Secret]) so that none has to be given on a command
// line. [DialEmbedded] reaches an embedded server with its token. A server
// URL with user information (nats://user:password@host) is refused
// ([CheckURL], [ErrURLUserInfo]), and no error repeats a URL: a secret never
// shows in a process list or a message.
//
// # A hung server
//
// A server that stops answering keeps its TCP connections open, so its
// clients would see only each other's silence. With
// [ClientOptions.HungAfter] the connection pings the server and closes when
// two pings go unanswered, and [Lost] then names the server ("NATS server
// host:port stopped answering", a [HungError]) rather than a peer.
//
// A connection does not reconnect: the links of channels/natslink and the
// commands of package cluster break when the connection is lost, since core
// NATS may have dropped messages with the server and only a restart from a
// checkpoint is exact (docs/design.md §9).
package natsconn
