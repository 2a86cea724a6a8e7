// Package train runs the training loop that backprop and every predictive-coding variant
// share: the same data, the same shuffling, the same optimisers and seeds, so that their
// results can be compared one to one.
//
// # Learners
//
// A Learner[T] learns from one batch at a time in precision T, float32 or float64, the
// run's spec.Precision (docs/design.md §6): one generic code path for both. BP wraps a
// backprop.Net[T]; PC wraps a pcnet.Network[T], whose layer goroutines live across
// batches. Run converts each batch's images from bytes into T as it needs them, and
// Evaluate computes in T too, never in a float64 copy of a float32 network. Both own per-tensor
// optimiser state (package optim), so a checkpoint can hold it and a resumed run goes on
// exactly where it stopped.
//
// New is the one constructor of a learner from a specification (spec.Run): backprop for
// spec.BP, a pcnet.Network for the PC variants, on the run's layer graph (spec.Run.Graph,
// docs/design.md §11): backprop on a backprop.Net for a chain of dense layers and on a
// backprop.GraphNet otherwise, PC on pcnet.NewGraph. It takes the run's maps
// (spec.InitialMapsOf, or a checkpoint's), and refuses maps whose T is not the run's
// precision. A learner exposes its Graph and Maps; Layers is the same maps as dense
// layers, or nil on a graph of pre-activation maps. A learner of another package (the
// cluster's coordinator) plugs into the same loop.
//
// # A run's life
//
// Run is the loop; package train/session runs a whole run around it, as pcnet train
// runs it (checkpoints, metrics, the epoch lines, the test split). A Progress shows the
// batches of an epoch meanwhile. MeasureUpdates is pcnet compare's
// measurement: every variant's updates on one batch against backprop's, as an
// UpdateReport; EvaluateCheckpoint is pcnet eval's.
//
// # Interruption and divergence
//
// Run checks its context between batches, never inside one: a batch once started runs to
// its end, so the weights are never half updated and the Position it returns is always a
// consistent point to checkpoint and resume from. A loss that is NaN or infinite stops
// the run with ErrDiverged before the epoch hook sees it, so the last checkpoint written
// by the hook stays the last good one.
//
// # Comparing with backprop
//
// With Options.CosineEvery > 0 and a learner that reports its updates (PC), Run computes
// BP's gradient on the same batch at the same weights before the step and reports the
// cosine similarity of the PC update to BP's update (-gradient), per layer and over all
// layers concatenated (weights and biases), and the time of a whole BP step: forward,
// backward and an optimiser step of the learner's configuration on a scratch copy of the
// weights, so that it compares like with like with the learner's step, which includes its
// own. The concatenated cosine is dominated by the largest layers; MinLayerCosine finds
// the worst layer and Warning flags an epoch at chance or a layer whose cosine is below 0.
//
// # Logs
//
// EpochLog appends an EpochRecord per epoch (loss, accuracy, cosines per layer, the
// metrics' steps per distance, energy, times, engine and cores, a layer graph's arch,
// param and skips) to a JSON-lines or CSV
// file, one unbuffered write per epoch, so that an interrupted run loses no finished
// epoch and a resumed one appends.
package train
