// Command pcnet trains predictive-coding networks whose layers are goroutines, next to
// the backpropagation baseline, and compares their weight updates with backprop's.
//
//	go run ./cmd/pcnet                     # FPA-PC, gamma 1, T = H on 784-[64 tanh]x4-10, float32
//	pcnet train -variant bp -hidden 2 -epochs 10 -precision f64
//	pcnet eval -checkpoint runs/fpa-H4.safetensors -split test
//	pcnet compare -hidden 4 -variants fpa,pc -steps 4 -json
//	pcnet help                             # every command and flag with its default
//
// # Commands
//
// train (the default) trains one variant (bp, fpa, pc, scaled, zil, ipc) on MNIST with the
// shared loop of package train, prints a line per epoch (loss, validation accuracy, the
// cosine of the PC updates to backprop's and its worst layer's, the steps each distance
// from the output needed, the time next to backprop's whole steps with the engine and
// the cores) and a warning when an epoch is at chance or a layer's cosine is below 0,
// appends the same to -log FILE (.jsonl or .csv) if asked, serves Prometheus metrics (package metrics) and
// writes a safetensors checkpoint (package checkpoint) before the first batch, after
// every epoch and when interrupted. eval reports a checkpoint's loss and accuracy on a
// split. compare runs backprop and the requested variants on one batch and reports,
// per weight layer, cosine similarity, relative error and norms, as a table or JSON.
// worker hosts a range of a network's nodes for a run on a NATS server; train and
// compare with -workers N start N of them on this machine, or with -nats, -run and
// -placement use workers started elsewhere (package cluster; docs/distributed.md).
//
// # Layer graphs
//
// -arch chain|residual, -param standard|mupc and -skips FROM:TO,... (train and compare;
// runFlags.readGraph) make the network a layer graph (docs/design.md §11), which
// spec.Run.Validate checks with the rest; -activity-lr eta sets gamma = eta / -batch
// (spec.GammaOfActivityLR) and is a usage error next to -gamma. eval, train -resume and
// compare -checkpoint take the three from the checkpoint and refuse a contradicting
// flag, as for -precision. With -workers or -nats the workers host ranges of the graph's
// nodes (cluster.StartGraph), a long skip between two workers a link like any other.
//
// # Precision
//
// -precision f32|f64 (one flag definition, registerPrecision) is the element type a
// run computes in (spec.Precision, docs/design.md §6): train and compare default to
// f32; eval and train -resume take the checkpoint's (eval and compare -checkpoint
// convert the weights when -precision names the other), and -resume with a different
// one is a usage error; experiment takes f64 only, its claims being exactness claims
// stated in float64; with -workers and -nats the workers take it from the coordinator's
// setup (package cluster). The one place a precision becomes a
// type is each command's switch that calls its generic body (trainIn, compareIn,
// evalIn) as f[float32] or f[float64].
//
// # Signals and exit status
//
// The first SIGINT or SIGTERM is acknowledged on stderr and cancels the root context:
// training stops after the batch in progress, the checkpoint is written, the metrics
// server shut down, and the command exits with status 1 and one line saying where it
// stopped and how to resume. A second signal exits at once with status 130. Errors are
// one line on stderr; the status is 2
// when the command line is wrong (including flags that contradict the checkpoint they
// name) and 1 when the work fails (files, data, the metrics port, divergence).
//
// # Structure
//
// main.go only wires the signals to a context; run (cli.go) takes the arguments and
// the output streams and returns the exit status, so that everything else is testable
// in-process. Each subcommand reads its flags into a spec.Run (flags.go), whose Validate
// names the setting out of range (mapped to its flag, status 2), calls the libraries and
// prints: train runs a session.Session (the learner from train.New or cluster.Start, the
// metrics, the checkpoints of a checkpoint.Writer) and prints its EpochSummary lines;
// compare prints the train.UpdateReport of train.MeasureUpdates as a table or JSON; eval
// prints train.EvaluateCheckpoint's report. train and compare share one reconciliation of
// the flags with the checkpoint they start from (resumed.reconcile, over
// checkpoint.FixedSettings): flags not given take the checkpoint's values, flags given
// must agree with them. The end-to-end tests build the binary once and drive it as a
// subprocess.
package main
