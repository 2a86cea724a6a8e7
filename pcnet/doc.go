// Package pcnet runs predictive-coding (PC) networks in which every node is a goroutine
// that owns its state and talks only to its neighbours: on a chain (New) the nodes just
// below and above, on a layer graph (NewGraph) every parent and child.
//
// # Nodes and messages
//
// Node 0 is the input (clamped to the batch; it owns theta_0), nodes 1..H are hidden
// and node H+1 holds the labels and the loss. Node l owns x_l, mu_l, e_l and its outgoing
// weights theta_l = (W_l, b_l), so everything it needs to learn is local. Predictions
// p_{l+1}(t) = f_l(x_l(t)) travel up, precision-weighted errors pi_l e_l(t) travel down,
// each message tagged with its step. One step t of a hidden node: take p_l(t), form
// e_l(t), send it down, take pi_{l+1} e_{l+1}(t) from above, move to x_l(t+1) and send
// p_{l+1}(t+1) up. Predictions for t+1 leave at the end of step t, so no step waits on a
// cycle and there is no global barrier: a node waits only for its neighbours.
//
// # Layer graphs
//
// NewGraph builds a network on a graph.Graph (docs/design.md §11) with a layer.Map per
// node 0..H: a chain of Dense layers (what New builds), μPC's residual pre-activation
// layers (layer.PreAct), and long skips i -> j, which add x_i to mu_j. Every edge is a
// link of its own. A node with several parents sums their messages into its prediction,
// mu_j = f_{j-1}(x_{j-1}) + x_i + ..., the chain parent's term first and the skip sources
// ascending; a node with skip children adds their errors to its input VJP,
// J_lᵀ(pi_{l+1} e_{l+1}) + pi_j e_j + ..., the skip targets ascending: backprop.GraphNet's
// orders, so that FPA-PC with gamma 1 and T >= H is GraphNet bit for bit on every graph.
// Theorem 1 then holds by graph distance: NodeInfo.Distance is graph.Graph.EtaFixed
// under FPA-PC and graph.Graph.Eta where the predictions move. iPC runs on every graph
// (its state step reads the same whole cotangent). Z-IL runs on graphs without long
// skips only: with them some layers' updates equal backprop's at no step of its dynamics
// (docs/design.md §11), so there is no step to take them at. A Part hosts a range of
// any of these graphs' nodes.
//
// # Variants and what they integrate
//
//	FixedPrediction (FPA-PC)  integrates e_l directly: e_l <- e_l - gamma (e_l - J_l(mu_l)ᵀ e_{l+1});
//	                          no prediction is resent after the feed-forward pass.
//	Standard (VPC)            integrates x_l: x_l <- x_l - gamma (pi_l e_l - J_l(x_l)ᵀ pi_{l+1} e_{l+1}),
//	                          e_l = x_l - f_{l-1}(x_{l-1}) formed at every step.
//	VarianceScaled            Standard with pi_l = K and step gamma/K.
//	ZeroDivergence (Z-IL)     Standard with pi = 1, gamma = 1; W_l's update taken at step H-l.
//	Incremental (iPC)         Standard's errors and state steps, and at every step t < T every
//	                          node, the input node too, takes an optimiser step along
//	                          dW_l(x_l(t); pi_{l+1} e_{l+1}(t)) (docs/design.md §8).
//
// Integrating e under FPA keeps a small error from being rounded away against a large mu.
// With gamma 1 FPA's step is e_l <- J_lᵀ e_{l+1} in exact arithmetic, and pcnet writes
// that value (+0 for a zero): on a chain the formula rounds to it anyway, and on a graph
// with skips, where e_l takes a new value at each path length, it keeps e_l backprop's.
// The weight update of layer l is dW_l(x_l; pi_{l+1} e_{l+1}) at step T (H-l for Z-IL),
// a negative-gradient estimate, times layer.UpdateScale (1/B under the per-sample losses
// ce and sse, whose output error has no 1/B): Learn moves theta_l along it with the
// layer's own optimiser state.
//
// # Incremental PC
//
// Under Incremental the weights learn during inference. At step t every node forms its
// error with the weights of step t; then the node takes its products at the weights of
// step t, moves x_l to x_l(t+1), takes its optimiser step, and sends up the prediction
// f_l(x_l(t+1)) made with the new weights, so the input node sends one at every step too
// and node 1's prediction is no longer fixed. T >= 1, and a batch makes T optimiser steps
// per layer: along an exactly zero update too (Theorem 1 keeps node l's error at zero
// before step d_l), because Adam's and momentum's steps still move the weights there.
// That is also why, with momentum or Adam, errors can appear before their distance from
// the second batch on: the lower weights drift with the momentum of earlier batches and
// change the predictions. Under plain SGD and within Infer, Theorem 1 holds as for
// Standard. Updates holds the sum of the T steps' updates. Infer runs the same steps at
// frozen weights (standard PC's inference) and never touches the weights or the optimiser
// state.
//
// # Engines
//
// Both engines drive the same deterministic node cores (node.go) through the same phases
// in the same per-node order; the parallel engine (parallel.go) only moves the messages
// between goroutines over package channels, with one buffer per link direction as flow
// control (a node hands an error back as soon as it has taken it in; more buffers only let
// a node run ahead, which costs cache and gains nothing, see linkBuffers). So the
// parallel engine equals the sequential one bit for bit, under any GOMAXPROCS.
//
// # Precision
//
// Network, Part and their batches are generic over the element type T, float32 or
// float64 (tensor.Float): the layers, the node states, the messages and the optimiser
// states are all in T, on one code path (docs/design.md §6). Config is the same for both;
// its float64 settings are rounded to T where they meet a tensor. Everything stated
// below bit for bit holds in either precision; the observer's figures are float64.
//
// # Lifetimes: the network's and the batch's
//
// The node goroutines live as long as the network: started by New under its context,
// fed by Infer and Learn, stopped by Close or by the end of New's context. The context
// given to Infer or Learn bounds that batch only: cancelling it ends the batch with its
// error, wrapped in a line that names a node that was waiting ("pcnet: batch cancelled
// while node 3 waited for the error from node 4: context deadline exceeded"), and the
// network runs its next batch as if the cancelled one had never started: the parallel
// engine drops the cancelled batch's messages with its links and makes new ones, and
// every node starts each batch afresh. The layers learn only once the inference is past
// cancelling (the parallel engine: once every node has finished it; the sequential
// engine: in its last sweep, after the last check of the batch's context, each layer
// right after its weight VJP), so a cancelled Learn moves no weight; under Incremental,
// whose layers learn during inference, it leaves the steps already taken.
//
// # Parts: a network across processes
//
// A Part hosts a contiguous range of nodes [Lo, Hi] of a network, a chain or any layer
// graph (PartSpec.Graph and Maps, docs/design.md §11): the parallel engine over those
// nodes alone, the same node cores and actors, with a link per edge that has a hosted end
// made by a channels.Transport (channels.Transport.Edge, by the edge's nodes and id:
// l for the chain edge l -> l+1, H+1+k for long skip k), the chain edges to the nodes
// just outside the range and the long skips that cross its bounds alike
// (channels/natslink carries them between processes). A Network is the same node host over all of its nodes and
// in-process links of its own. A part's links reach nodes it does not own, which may
// still be inside a batch, so a cancelled batch stops a part. Every part runs every batch (node 0's part with the batch,
// node H+1's with the labels) and returns a PartReport: the loss from the output node's
// part, the fault of the batch if any, and with PartSpec.Observe every hosted node's
// StepStats and NodeStats (recorded by a Recorder), which a coordinator replays into its
// own Observer (NodeReport.Replay) and completes with Observer.Batch. Split into parts, a network
// computes bit for bit what one Network computes, the observer statistics included.
//
// # Schedules: dense and event
//
// Under the Dense schedule every hidden node computes J_lᵀ(pi_{l+1} e_{l+1}(t)) at every
// step and every message carries its value. The Event schedule (the default) computes
// only when a message brings news, and skips a computation only where its result is
// known exactly, so the two agree bit for bit under either engine (docs/design.md §7):
//
//   - a product whose cotangent is exactly zero is zero: skipped (Theorem 1: every node
//     before the error reaches it);
//   - a product whose point and cotangent are those of the node's last product returns
//     that product's result: reused (under FPA the point is frozen);
//   - an FPA node whose last step moved its error by ±0 at most, or that stepped from an
//     all-zero error with gamma = 1, is at the fixed point of its update for the same
//     input VJP: it does nothing at all;
//   - a message may say "zero" or "unchanged" (channels.Payload) and then carries no
//     payload; the receiver keeps what it made of the last one.
//
// The node core decides every message's payload from what it knows, never by scanning a
// buffer. FPA-PC with gamma 1 and T >= H then computes 2H + 1 products per update,
// backprop's (on a graph with skips, node l's input VJP once per path length of e_{l+1},
// graph.Graph.PathLengths); standard PC, variance-scaled PC and Z-IL skip the H(H-1)/2 input VJPs
// before the wavefront and compute every one after it. The observer still sees every
// step of every node. A skipped product differs from a computed one only when the
// weights or the batch hold an infinity or NaN (0·Inf is NaN), so a network refuses
// those with an error wrapping ErrNonFinite, under both schedules alike.
//
// # Counting work
//
// pcnet counts products: an input VJP and a weight VJP are one each. BP computes 2H+1
// per update (H input VJPs and H+1 weight VJPs; the paper's "H+1 VJPs" counts a layer's
// two products as one). A PC hidden node computes one input VJP per step before T, and
// every layer one weight VJP when it learns, so a PC update costs H·T + H + 1; under
// Incremental every layer takes a weight VJP at every step, (2H + 1)·T in all. Observer
// sees these counts (NodeStats.VJPs computed, NodeStats.SkippedVJPs skipped by the event
// schedule: their sum is the dense count), the errors of every hidden node at every step,
// every node's term of the energy F(t) at every step (StepStats.Energy; BatchStats has
// F(0) and F(T), Energy the whole trace of a Recorder's batch), the messages by payload
// and the time each node computes and waits; without an Observer none of it is measured.
package pcnet
