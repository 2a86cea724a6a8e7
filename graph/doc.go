// Package graph describes a network's layers as a graph of nodes and says, from the graph
// alone, when each node's error can first move: Theorem 1 by graph distance
// (docs/design.md §11). It is pure and deterministic: no goroutines, no clocks, no
// arithmetic on activations; the engines will read a *Graph to know which nodes to link
// and which steps to expect.
//
// # Nodes and edges
//
// A network of H hidden layers has the nodes 0..H+1 of docs/design.md §1: 0 is the input,
// H+1 the output. The chain edges l -> l+1 are always there. A long skip i -> j
// (j >= i+2) adds x_i to mu_j, so node j has the parents j-1 and i. The shape is Chain
// (today's dense layers) or Residual (μPC's identity skip inside each hidden layer,
// mu_{l+1} = x_l + a_h phi(x_l) W_l^T for l = 1..H-1, which links no new pair of nodes and
// so adds no edge). New checks everything once and returns one error naming the fault;
// ParseSkips reads the command line's "1:4,3:8".
//
// # The rule
//
// Started from the feed-forward values, a Jacobi step moves x_v when e_v or the error of a
// child of v is non-zero, and e_v = x_v - mu_v changes when x_v or a hidden parent moves
// (the input is clamped). With eta_v the first step at which e_v is non-zero and tau_v
// the first at which x_v moves:
//
//	eta_out = 0
//	tau_v   = 1 + min(eta_v, min over children c of eta_c)
//	eta_v   = min(tau_v, min over hidden parents p of tau_p)
//
// so tau_v is the shortest-path distance from v to the output in the moralised graph
// (edges undirected, plus an edge between any two parents of a common child; paths do not
// run through the clamped input), and Eta and Tau return these. An error can thus appear
// before its own node moves: the wave also runs upward, from a node to its children.
//
// Under fixed predictions (FPA-PC) mu and the Jacobians never move, so e_v changes only
// through its children's errors and EtaFixed is the shortest directed path from v to the
// output; the wave runs downward only. On a chain both equal the distance d_l = H+1-l.
// Under FPA-PC with gamma 1 a directed path of length k brings its term of e_v at step k,
// so e_v takes a new value at each of PathLengths(v) and its last at LongestPath(v): that
// is what "T at least the longest path" means for exactness. Since the chain edges are
// always there, LongestPath(v) is H+1-v whatever the skips.
//
// The package's tests check the rule against a direct fixed-point iteration of the
// recurrences and against an independent float64 simulation of PC inference on the graph
// (chains, residual networks and long-skip graphs), exactly: the first non-zero step of
// every node's error.
package graph
