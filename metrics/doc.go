// Package metrics exposes pcnet to Prometheus: collectors on a registry the caller owns,
// a pcnet.Observer that feeds them from the runtime's hooks, setters for the trainer, and
// an HTTP server for /metrics. The Grafana dashboard in grafana/ is built on these
// series; its headline panel is the paper's Theorem 1 made live.
//
// # Use
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg, metrics.Options{})        // no global state
//	srv, err := metrics.Serve(ctx, metrics.DefaultAddr, reg)
//	defer srv.Close()
//	net, err := pcnet.New(ctx, layers, pcnet.Config{..., Observer: m})
//	... net.Learn(ctx, x, labels); m.AddSamples(rows) ...
//	m.SetLoss(metrics.SplitValidation, loss); m.SetEpoch(epoch + 1)
//	fmt.Print(m.Summary())                                // per epoch
//
// # Series
//
// Labels are bounded: variant (fpa, pc, scaled, zil, ipc), distance (1..H), layer (a node or
// weight layer index, or "all"), split (train, validation, test), direction (up, down),
// outcome (computed, skipped), payload (full, zero, unchanged), step (first, last), link
// ("l-(l+1)", l < 1024). The dashboard queries outcome and payload to show what the event
// schedule saves: skipped VJPs, and messages sent without a payload.
//
//	pcnet_error_first_nonzero_step{variant,distance}   histogram, buckets 0,1,...,MaxStep
//	pcnet_error_convergence_step{variant,distance}     histogram, buckets 0,1,...,MaxStep
//	pcnet_error_unreached_total{variant,distance}      counter
//	pcnet_error_unconverged_total{variant,distance}    counter
//	pcnet_inferences_total{variant}                    counter: batches (Infer or Learn)
//	pcnet_weight_updates_total{variant}                counter: batches learned (Learn)
//	pcnet_inference_steps_total{variant}               counter: T per batch
//	pcnet_vjps_total{variant,outcome}                  counter: computed, or skipped (event schedule)
//	pcnet_network_hidden_layers{variant}               gauge: H
//	pcnet_messages_total{variant,direction,payload}    counter: full, or zero / unchanged (no payload)
//	pcnet_message_bytes_total{variant,direction,payload} counter: only full messages carry bytes
//	pcnet_node_compute_seconds_total{variant,layer}    counter (layer: node 0..H+1)
//	pcnet_node_wait_seconds_total{variant,layer}       counter (layer: node 0..H+1)
//	pcnet_batch_loss{variant}                          gauge: last batch, feed-forward
//	pcnet_batch_energy{variant,step}                   gauge: last batch, F(0) or F(T)
//	pcnet_batch_energy_drop_per_step{variant}          gauge: last batch, (F(0)-F(T))/T
//	pcnet_train_loss{split}                            gauge
//	pcnet_train_accuracy_ratio{split}                  gauge
//	pcnet_train_epoch                                  gauge: epochs completed
//	pcnet_train_samples_total                          counter
//	pcnet_run_info{precision}                          gauge, always 1: the run's f32 or f64 (with Options.Precision)
//	pcnet_update_bp_cosine_ratio{variant,layer}        gauge (layer: weight layer or "all")
//	pcnet_update_bp_norm_ratio{variant,layer}          gauge: ||PC update|| / ||BP update||, 0 for a zero update
//	pcnet_link_latency_seconds{link,direction}         histogram, 10 µs to 1 s (workers only)
//	pcnet_link_wire_bytes_total{link,direction}        counter (workers only)
//	pcnet_rejected_messages_total{kind,reason}         counter (workers only): forged, replayed, stray
//	go_*, process_*                                    the Go runtime and the process
//
// # Several runs
//
// With Options.Run set, every series above, go_* and process_* included, also carries
// run="..." (one constant value per registry, put on the registry rather than on each
// collector), so that several runs can share one Prometheus; every query of the
// dashboard filters on it through its $run variable. pcnet train sets it to -run-label,
// by default the variant, H, the seed and a random suffix (DefaultRunLabel).
//
// # Steps, first non-zero and convergence
//
// In every inference the runtime reports each hidden node's error e_l(t) for steps
// t = 0..T. The first non-zero step is the first t with max|e_l(t)| != 0; Theorem 1 says
// it is exactly the node's distance d (pcnet.NodeInfo.Distance: H+1-l on a chain, the
// graph distance of docs/design.md §11 on a layer graph), so each inference adds one observation to
// the bucket le=d of its distance, and none below. Step t moved the error when
// max|e(t) - e(t-1)| > tol * max|e(t)| (Options.ConvergenceTolerance, relative); the
// convergence step is the last step that moved it, after which it stayed put to the end.
// An error is also converged when the last step T moved it to a value that a further step
// would repeat: under FPA with gamma 1 the node holds its exact error from step
// pcnet.NodeInfo.Final on (Exact; d on a chain, the longest path to the output on a layer
// graph, docs/design.md §11), so at T = d it converges at d. Otherwise, if the last
// step T still moved it, the inference counts in unconverged_total instead, and a node whose error stayed zero to the end (T < d) counts in unreached_total and in
// neither histogram. Since the step at which the error arrives always moves it, no node
// converges before its first non-zero step, hence not before d.
//
// # Energy
//
// The energy F(t) = sum_{l=1..H} pi_l/2 ||e_l(t)||² + E(t) is the free energy that
// standard PC's inference descends (docs/design.md §2, §5): ||e_l||² sums every entry of
// the batch's error, and E is the loss at the output's current prediction, averaged over
// the batch like every loss here. For every batch the runtime adds up the nodes' terms at
// the first step (t = 0, where every hidden error is zero, so F(0) is the feed-forward
// loss) and the last (t = T); pcnet_batch_energy holds both for the last batch of each
// variant, and pcnet_batch_energy_drop_per_step their difference over T. Scraped, they
// are a per-batch sample: plot pcnet_batch_energy by step to see how far inference
// lowers the energy, and the drop per step to see it stall (near 0) or rise (below 0,
// a step size too large). The whole trace F(0..T) and its per-node terms are in the
// pcnet.StepStats the Observer hook gets (and in pcnet compare -json).
//
// # Work
//
// Every inference computes one weight update of every layer, applied or not, so
// rate(pcnet_vjps_total{outcome="computed"}) / rate(pcnet_inferences_total) is PC's VJPs
// per update (outcome="skipped": the products the event schedule knew exactly), to set
// against backprop's 2·pcnet_network_hidden_layers + 1 (its H input and H+1 weight VJPs;
// the paper's H+1 counts a layer's two products as one); the pcnet package docs give the
// count H·T + H + 1. Messages and bytes are counted by direction (predictions up, errors
// down), and each node's seconds computing and waiting for its neighbours by node index.
//
// # Links between processes
//
// When the nodes live in worker processes (package cluster), the links between two
// workers' nodes are carried over NATS, and the coordinator's Metrics, which observes no
// node itself, is handed their traffic after every batch (AddLinkTraffic): the latency
// of every message from its Send to the receiver having it, and the bytes its frames took
// on the wire, by link ("2-3": nodes 2 and 3) and direction. The workers measure; the
// bucket counts travel with their reports and are added up here, so the histogram is
// exact, not a replay of samples. The messages the coordinator and the workers drop
// unread (forged, replayed, malformed, a foreign coordinator's) are counted by kind and
// reason (AddRejected). In one process these series stay empty.
//
// # Cost
//
// Node binds every child series once, when the network is built. Step only compares two
// numbers with what it has seen; End adds the node's counts and observes the histograms
// once per batch. Nothing allocates per step or per batch, and Metrics costs no more than
// an Observer that does nothing. The cost of observation is the runtime's: with any
// Observer, pcnet measures max|e|, max|Δe| and the energy term of every hidden node
// (in the pass that forms the error) and the loss at the output at every step, and reads
// the clock around every wait. BenchmarkObserverOverhead measures both, paired
// with an unobserved network.
package metrics
