// Package bench holds pcnet's benchmarks: what a predictive-coding weight update costs
// against a backpropagation step as depth, width and cores grow, and the tools that turn
// the benchmark output into the report in docs/bench.md.
//
// # Benchmarks
//
// Names follow benchstat's key=value convention so that results group by any axis:
//
//	BenchmarkBPStep/precision=f32/H=8/width=64/batch=64
//	BenchmarkPCUpdate/precision=f64/variant=fpa/engine=parallel/schedule=event/H=8/width=256/batch=64
//
// The first level is the precision, f32 or f64 (Setting.Precision): the same network,
// drawn from the same seed and rounded to float32 for f32. train is float64 only, so the
// BP benchmarks run BP, train.BP's step on the generic types (the same bits in float64).
// BenchmarkBPStep reports cpu-ns/op too, the process's CPU time per step (every thread).
//
// A BP step is forward, backward and one SGD step. A PC update is the feed-forward pass,
// T = H inference steps and one SGD step of every layer (FPA-PC and Z-IL with gamma 1,
// standard PC with gamma 0.1). Besides ns/op every PC benchmark reports steps/op,
// vjps/op, msgs/op and wait-s/op (seconds the layer goroutines spent blocked on their
// neighbours, summed over layers); those come from a separate, observed network run a few
// times before the timed loop, so the timed loop itself runs without an observer.
//
// BenchmarkEngineOverhead times one update on each engine back to back, on two copies of
// a network, and reports (parallel - sequential) / sequential and the difference per
// message: on one core what the goroutines and hand-offs cost, on more what the
// parallelism gains. BenchmarkLayerOp times the per-layer operations the model of the
// parallel engine (Model) is built from.
//
// # Measuring on a shared machine
//
// The benchmarks loop over b.N, not b.Loop: with b.Loop, go test runs the first -cpu
// value of each benchmark at the GOMAXPROCS the previous one left behind (the body runs
// to completion in the probe call that precedes the -cpu setting; see golang/go#49980),
// which made every first "1-core" sample a 2-core one. bench/run.sh alternates the core
// counts (-cpu 1,2,1,2,... with -count 1) so that a host's drift falls on all of them,
// and the paired benchmarks time what they compare within one op.
//
// The full grid (H in {1, 2, 4, 8, 16, 32}, width in {64, 256, 1024}, batch 64 and 1) is
// large; bench/run.sh chooses the part to run and feeds the results to benchstat.
package bench
