package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
	"github.com/pcnet/pcnet/train/session"
	"github.com/prometheus/client_golang/prometheus"
)

type trainFlags struct {
	fs *flag.FlagSet
	runFlags
	out         string
	metricsAddr string
	runLabel    string
	resume      string
	cosineEvery int
	log         string
	cluster     clusterFlags
}

func newTrainFlags() *trainFlags {
	f := &trainFlags{fs: flag.NewFlagSet("train", flag.ContinueOnError), runFlags: runFlags{run: spec.Default()}}
	fs, r := f.fs, &f.run
	fs.StringVar(&f.algorithm, "variant", defaultRun.Algorithm.String(), "`variant`: bp (backprop), fpa (FPA-PC), pc (standard PC), scaled (variance-scaled PC), zil (Z-IL) or ipc (incremental PC)")
	f.registerArch(fs)
	f.registerPC(fs)
	f.registerOptim(fs)
	f.registerData(fs)
	fs.IntVar(&r.Epochs, "epochs", defaultRun.Epochs, "epochs to train, counting those a resumed checkpoint has done (>= 1)")
	fs.Uint64Var(&r.Seed, "seed", defaultRun.Seed, "seed of the initial weights and of the shuffling")
	fs.IntVar(&r.Data.MaxTrain, "max-train", 0, "use only the first `N` training images (0: all 55000)")
	fs.StringVar(&f.out, "out", "runs", "`directory` for the checkpoint <variant>-H<H>.safetensors (with -resume and no -out: the resumed file)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", metrics.DefaultAddr, "`host:port` to serve Prometheus metrics on while training (/metrics, /healthz); port 0 picks a free port (the metrics: line names it); empty: do not serve")
	fs.StringVar(&f.runLabel, "run-label", "", "`label` put as run=\"label\" on every metrics series, so that runs can share one Prometheus and dashboard (letters, digits, . _ : -; empty: <variant>-H<H>-seed<seed>-<4 random hex digits>)")
	fs.StringVar(&f.resume, "resume", "", "checkpoint `file` to continue from; flags not given take its values, and flags given must agree with it")
	fs.Float64Var(&r.PC.Tolerance, "tol", metrics.DefaultConvergenceTolerance, "relative `tolerance` of convergence in the metrics: a step moved a layer's error when max|e(t) - e(t-1)| > tol * max|e(t)|; an error converged when its last step did not move it, or moved it to its exact value (fpa with gamma 1 at T >= d)")
	fs.StringVar(&f.log, "log", "", "`file` to append one record per epoch to: JSON lines (.jsonl) or CSV (.csv), by its extension (see train.EpochRecord)")
	fs.IntVar(&f.cosineEvery, "cosine-every", 10, "compare every `n`-th PC update with backprop's on the same batch (0: never; 1: every batch, which costs a whole BP step and a copy of the weights per batch)")
	f.cluster.register(fs)
	registerPrecision(fs, &f.precision, spec.F32, "with -resume, the checkpoint's; the workers of -workers or -nats take it from this process")
	return f
}

const trainDetails = `Variants: bp is backpropagation; fpa, pc, scaled, zil and ipc are the predictive-coding
variants of package pcnet, each layer a goroutine (-engine parallel). fpa with -gamma 1
and -steps >= H makes exactly backprop's updates; zil runs with gamma 1; ipc (incremental
PC) takes an optimiser step of every layer at each of its -steps >= 1 inference steps, so
its -lr acts T times per batch.

Every epoch prints the training loss, the validation accuracy and, for the PC variants,
the mean cosine of the PC updates to backprop's on the same batches with the smallest
layer's ("min 0.12 at layer 1": the weights into node 1), the mean step at which each
distance d = H+1-l from the output first had a non-zero error and at which it converged,
and the time of the PC steps on the engine next to backprop's whole steps (forward,
backward and optimiser) on the compared batches, with the cores (GOMAXPROCS). A line
"warning: ..." follows an epoch whose validation accuracy is at chance (<= 15% for 10
classes) or in which a layer's cosine is below 0. -log FILE appends the same per epoch,
per layer and per distance, as JSON lines (.jsonl) or CSV (.csv).

Standard PC (pc) and the scaled variant default to -steps 20 -gamma 0.1, at which the
default network passes 90% validation accuracy in 2 epochs; with gamma 1 and T = H they
stay at chance. The other variants default to -gamma 1 and T = H. On a terminal a progress bar runs meanwhile; otherwise (CI, pipes) a
plain line is printed every tenth of an epoch.

A checkpoint (safetensors, see package checkpoint) is written atomically before the first
batch, at the end of every epoch and on interruption. Ctrl-C or SIGTERM stops after the
batch in progress, writes the checkpoint, stops the metrics server and exits with status
1; a second Ctrl-C exits at once (status 130). A run resumed with -resume ends with
exactly the weights of a run that was never stopped. A loss that becomes NaN or infinite
stops the run with status 1 and leaves the last good checkpoint in place.

-precision f32 (the default) or f64 is the element type the run computes, checkpoints
and evaluates in; the run's line names it, and so do -log's records and the metric
pcnet_run_info{precision}. A checkpoint records it, -resume takes it, and -resume with a
different -precision is refused. With -workers or -nats the workers compute in it too
(they take it from this process's setup) and the links carry its values: a float32 run
sends half the bytes of a float64 one, and both are bit for bit the run in one process.

Weights are initialised as PyTorch's nn.Linear does, from math/rand/v2's PCG seeded with
(seed, 0), layer by layer, weight before bias.
`

// resolve reads and validates the run and the flags of train's own.
func (f *trainFlags) resolve(explicit map[string]bool) (*spec.Run, error) {
	r, err := f.read(explicit)
	if err != nil {
		return nil, err
	}
	if err := validate(r, nil); err != nil {
		return nil, err
	}
	switch {
	case f.cosineEvery < 0:
		return nil, usagef("-cosine-every: must be >= 0, got %d", f.cosineEvery)
	case f.out == "":
		return nil, usagef("-out: must name a directory")
	case f.log != "" && session.CheckLogPath(f.log) != nil:
		return nil, usagef("-log %q: %v", f.log, session.ErrLogFormat)
	}
	if err := checkAddr(f.metricsAddr); err != nil {
		return nil, err
	}
	if f.runLabel != "" {
		if err := metrics.CheckRunLabel(f.runLabel); err != nil {
			return nil, usagef("-run-label: %v", err)
		}
	}
	if err := f.cluster.check(r.Algorithm, r.Hidden(), r.PC.Engine); err != nil {
		return nil, err
	}
	r.Precision = f.precision.v
	return r, nil
}

// trainFromFlags parses and validates the command line, loading the checkpoint it
// resumes, and returns what the run needs.
func trainFromFlags(args []string, stdout io.Writer) (*trainFlags, *spec.Run, *checkpoint.Opened, error) {
	f := newTrainFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return nil, nil, nil, err
	}
	explicit := explicitFlags(f.fs)
	if f.resume == "" {
		r, err := f.resolve(explicit)
		return f, r, nil, err
	}
	c, err := loadResumed("resume", f.resume)
	if err != nil {
		return nil, nil, nil, err
	}
	if !c.ck.HasOptimizerState() {
		return nil, nil, nil, fmt.Errorf("-resume: %s holds no optimizer state to resume with", f.resume)
	}
	if !explicit["epochs"] {
		f.run.Epochs = max(c.ck.Run.Epochs, 1)
	}
	r, err := c.reconcile(f.fs, explicit, nil, func() (*spec.Run, error) { return f.resolve(explicit) })
	if err != nil {
		return nil, nil, nil, err
	}
	return f, r, c.ck, nil
}

// trainer is one training run, in precision T.
type trainer[T tensor.Float] struct {
	ctx    context.Context
	f      *trainFlags
	run    *spec.Run
	ck     *checkpoint.Writer[T]
	stdout io.Writer
	sess   *session.Session[T]
	log    *session.EpochLog // -log; nil: none
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, r, ck, err := trainFromFlags(args, stdout)
	if err != nil {
		return err
	}
	// The one place the run's precision becomes a type.
	if r.Precision == spec.F32 {
		return trainIn[float32](ctx, f, r, ck, stdout, stderr)
	}
	return trainIn[float64](ctx, f, r, ck, stdout, stderr)
}

// trainIn runs the training of r in precision T (r's), resuming ck (nil: none).
func trainIn[T tensor.Float](ctx context.Context, f *trainFlags, r *spec.Run, ck *checkpoint.Opened, stdout, stderr io.Writer) error {
	path := filepath.Join(f.out, fmt.Sprintf("%s-H%d.safetensors", r.Algorithm, r.Hidden()))
	if ck != nil && !explicitFlags(f.fs)["out"] {
		path = f.resume
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	t := &trainer[T]{ctx: ctx, f: f, run: r, ck: &checkpoint.Writer[T]{Path: path, Run: r}, stdout: stdout}
	t.sess = &session.Session[T]{Run: r, Saver: t.ck, CosineEvery: f.cosineEvery}
	stop, err := t.serveMetrics()
	if err != nil {
		return err
	}
	defer stop()
	if f.log != "" {
		if t.log, err = session.OpenEpochLog(f.log); err != nil {
			return fmt.Errorf("-log: %w", err)
		}
		defer t.log.Close()
		t.sess.Log = t.log
	}
	data, err := loadData(r.Data.Dataset, r.Data.Dir)
	if err != nil {
		return err
	}
	from, err := t.start(ck, stderr)
	if err != nil {
		return err
	}
	defer t.sess.Learner.Close()
	return t.train(data, from)
}

// serveMetrics makes the run's metrics and serves them if -metrics-addr says so; stop
// shuts the server down.
func (t *trainer[T]) serveMetrics() (stop func(), err error) {
	reg := prometheus.NewRegistry()
	label := t.f.runLabel
	if label == "" {
		label = metrics.DefaultRunLabel(fmt.Sprintf("%s-H%d-seed%d", t.run.Algorithm, t.run.Hidden(), t.run.Seed))
	}
	opts := metrics.Options{MaxStep: max(metrics.DefaultMaxStep, t.run.PC.Steps), ConvergenceTolerance: t.run.PC.Tolerance, Run: label, Precision: t.run.Precision.String()}
	if t.sess.Metrics, err = metrics.New(reg, opts); err != nil {
		return nil, err
	}
	addr := t.f.metricsAddr
	if addr == "" {
		return func() {}, nil
	}
	// The server outlives the interrupt until the checkpoint is written; the deferred
	// stop shuts it down on every way out.
	srv, err := metrics.Serve(context.WithoutCancel(t.ctx), addr, reg)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("-metrics-addr %s: address already in use (pick another with -metrics-addr, or \"\" to serve none)", addr)
		}
		return nil, fmt.Errorf("-metrics-addr %s: %w", addr, err)
	}
	fmt.Fprintf(t.stdout, "metrics: http://%s/metrics  run=%q\n", srv.Addr(), label)
	return func() { srv.Close() }, nil
}

// start builds the learner, from the checkpoint ck when resuming, and returns the
// position to train from.
func (t *trainer[T]) start(o *checkpoint.Opened, stderr io.Writer) (train.Position, error) {
	r, s := t.run, t.sess
	var maps []layer.Map[T]
	var ck *checkpoint.Checkpoint[T]
	from := train.Position{}
	var err error
	if o != nil {
		// reconcile made the run's precision the checkpoint's.
		if ck, err = checkpoint.As[T](o); err != nil {
			return from, fmt.Errorf("-resume: %w", err)
		}
		maps, from = ck.Maps(), ck.Position
	} else if maps, err = spec.InitialMapsOf[T](r); err != nil {
		return from, err
	}
	// The energy tally sums F(0) and F(T) for -log's per-epoch means; with workers the
	// coordinator hands it each batch's F(0) and F(T), summed from the nodes' reports in
	// node order as one process sums them.
	s.Energy = &session.EnergyTally{Observer: s.Metrics}
	if t.f.cluster.distributed() {
		// refuseClusterGraph has refused a graph: the maps are a chain's dense layers.
		s.Learner, err = t.startCluster(layer.AsDense(maps), stderr)
	} else {
		// The layer goroutines must not see the interrupt: a batch once started runs to
		// its end so that the checkpoint is consistent. Close stops them.
		s.Learner, err = train.New(context.WithoutCancel(t.ctx), r, maps, s.Energy)
	}
	if err != nil {
		return from, err
	}
	if ck != nil {
		if err := ck.RestoreOptimizers(s.Learner.Optimizers()); err != nil {
			s.Learner.Close()
			return from, fmt.Errorf("-resume %s: %w", t.f.resume, err)
		}
	}
	return from, nil
}

// startCluster starts the workers of t's run on layers, in the run's precision T.
func (t *trainer[T]) startCluster(layers []*layer.Dense[T], stderr io.Writer) (train.Learner[T], error) {
	s := t.sess
	cl, err := startCluster(t.ctx, &t.f.cluster, layers, t.run.PCConfig(s.Energy), s.Metrics, t.stdout, stderr)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// train runs the epochs from position from and prints the test accuracy.
func (t *trainer[T]) train(data *mnist.Splits, from train.Position) error {
	r := t.run
	examples := data.Train.Len()
	if r.Data.MaxTrain > 0 {
		examples = min(examples, r.Data.MaxTrain)
	}
	if batches := (examples + r.Batch - 1) / r.Batch; from.Batch > batches {
		return fmt.Errorf("-resume %s: position epoch %d, batch %d is past the %d batches of an epoch", t.f.resume, from.Epoch+1, from.Batch, batches)
	}
	line := session.Describe(r, examples, from)
	if t.f.cluster.distributed() {
		line += t.f.cluster.note()
	}
	fmt.Fprintln(t.stdout, line)
	prog := train.NewProgress(t.stdout, r.Epochs)
	t.sess.OnBatch = prog.Batch
	t.sess.OnEpoch = func(e session.EpochSummary) {
		prog.Clear()
		fmt.Fprintln(t.stdout, e)
		if w := train.Warning(e.EpochInfo, mnist.Classes); w != "" {
			fmt.Fprintln(t.stdout, w)
		}
	}
	res, err := t.sess.Train(t.ctx, data, from)
	prog.Clear()
	switch {
	case err == nil:
	case errors.Is(err, train.ErrDiverged):
		return fmt.Errorf("%v; stopped, and kept the last good checkpoint %s (%s)", err, t.ck.Path, t.ck.LastGood)
	case t.ctx.Err() != nil && errors.Is(err, t.ctx.Err()):
		pos := res.Position
		where := fmt.Sprintf("pcnet: interrupted at epoch %d, batch %d", pos.Epoch+1, pos.Batch)
		if err := t.sess.Save(t.ctx, pos); err != nil {
			return &reportedError{fmt.Sprintf("%s; writing the checkpoint failed: %v", where, err)}
		}
		return &reportedError{fmt.Sprintf("%s; checkpoint written to %s (resume with -resume %s)", where, t.ck.Path, t.ck.Path)}
	default:
		return err
	}
	fmt.Fprintf(t.stdout, "test accuracy %.2f%% (loss %.4f); checkpoint: %s\n", 100*res.TestAccuracy, res.TestLoss, t.ck.Path)
	return nil
}
