package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/prometheus/client_golang/prometheus"
)

type trainFlags struct {
	fs *flag.FlagSet
	runFlags
	out         string
	metricsAddr string
	resume      string
	cosineEvery int
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
	fs.StringVar(&f.metricsAddr, "metrics-addr", metrics.DefaultAddr, "`host:port` to serve Prometheus metrics on while training (/metrics, /healthz); empty: do not serve")
	fs.StringVar(&f.resume, "resume", "", "checkpoint `file` to continue from; flags not given take its values, and flags given must agree with it")
	fs.Float64Var(&r.PC.Tolerance, "tol", metrics.DefaultConvergenceTolerance, "relative `tolerance` of convergence in the metrics: a step moved a layer's error when max|e(t) - e(t-1)| > tol * max|e(t)|")
	fs.IntVar(&f.cosineEvery, "cosine-every", 1, "compare every `n`-th PC update with backprop's on the same batch (0: never)")
	f.cluster.register(fs)
	return f
}

const trainDetails = `Variants: bp is backpropagation; fpa, pc, scaled, zil and ipc are the predictive-coding
variants of package pcnet, each layer a goroutine (-engine parallel). fpa with -gamma 1
and -steps >= H makes exactly backprop's updates; zil runs with gamma 1; ipc (incremental
PC) takes an optimiser step of every layer at each of its -steps >= 1 inference steps, so
its -lr acts T times per batch.

Every epoch prints the training loss, the validation accuracy and, for the PC variants,
the mean cosine of the PC updates to backprop's on the same batches, the mean step at
which each distance d = H+1-l from the output first had a non-zero error and at which it
converged, and the time of the PC steps next to backprop's forward and backward on the
compared batches. On a terminal a progress bar runs meanwhile; otherwise (CI, pipes) a
plain line is printed every tenth of an epoch.

A checkpoint (safetensors, see package checkpoint) is written atomically before the first
batch, at the end of every epoch and on interruption. Ctrl-C or SIGTERM stops after the
batch in progress, writes the checkpoint, stops the metrics server and exits with status
1; a second Ctrl-C exits at once (status 130). A run resumed with -resume ends with
exactly the weights of a run that was never stopped. A loss that becomes NaN or infinite
stops the run with status 1 and leaves the last good checkpoint in place.

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
	}
	if err := checkAddr(f.metricsAddr); err != nil {
		return nil, err
	}
	if err := f.cluster.check(r.Algorithm, r.Hidden(), r.PC.Engine); err != nil {
		return nil, err
	}
	return r, nil
}

// trainFromFlags parses and validates the command line, loading the checkpoint it
// resumes, and returns what the run needs.
func trainFromFlags(args []string, stdout io.Writer) (*trainFlags, *spec.Run, *checkpoint.Checkpoint, error) {
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
	if c.ck.OptimizerState == nil {
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

// trainer is one training run.
type trainer struct {
	ctx     context.Context
	f       *trainFlags
	run     *spec.Run
	ck      *checkpoint.Writer
	stdout  io.Writer
	learner train.Learner
	metrics *metrics.Metrics
	samples int64 // training examples counted in the metrics
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, r, ck, err := trainFromFlags(args, stdout)
	if err != nil {
		return err
	}
	path := filepath.Join(f.out, fmt.Sprintf("%s-H%d.safetensors", r.Algorithm, r.Hidden()))
	if ck != nil && !explicitFlags(f.fs)["out"] {
		path = f.resume
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	t := &trainer{ctx: ctx, f: f, run: r, ck: &checkpoint.Writer{Path: path, Run: r}, stdout: stdout}
	stop, err := t.serveMetrics()
	if err != nil {
		return err
	}
	defer stop()
	data, err := loadData(r.Data.Dir)
	if err != nil {
		return err
	}
	from, err := t.start(ck, stderr)
	if err != nil {
		return err
	}
	defer t.learner.Close()
	return t.train(data, from)
}

// serveMetrics makes the run's metrics and serves them if -metrics-addr says so; stop
// shuts the server down.
func (t *trainer) serveMetrics() (stop func(), err error) {
	reg := prometheus.NewRegistry()
	if t.metrics, err = metrics.New(reg, metrics.Options{MaxStep: max(metrics.DefaultMaxStep, t.run.PC.Steps), ConvergenceTolerance: t.run.PC.Tolerance}); err != nil {
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
	fmt.Fprintf(t.stdout, "metrics: http://%s/metrics\n", srv.Addr())
	return func() { srv.Close() }, nil
}

// start builds the learner, from the checkpoint ck when resuming, and returns the
// position to train from.
func (t *trainer) start(ck *checkpoint.Checkpoint, stderr io.Writer) (train.Position, error) {
	r := t.run
	var layers []*layer.Dense
	from := train.Position{}
	var err error
	if ck != nil {
		layers, from = ck.Layers, ck.Position
	} else if layers, err = layer.NewMLP(r.Sizes, r.Activation, rand.New(rand.NewPCG(r.Seed, 0))); err != nil {
		return from, err
	}
	if t.f.cluster.distributed() {
		t.learner, err = t.f.cluster.start(t.ctx, layers, r.PCConfig(t.metrics), t.metrics, t.stdout, stderr)
	} else {
		// The layer goroutines must not see the interrupt: a batch once started runs to
		// its end so that the checkpoint is consistent. Close stops them.
		t.learner, err = train.New(context.WithoutCancel(t.ctx), r, layers, t.metrics)
	}
	if err != nil {
		return from, err
	}
	if ck != nil {
		if err := ck.RestoreOptimizers(t.learner.Optimizers()); err != nil {
			t.learner.Close()
			return from, fmt.Errorf("-resume %s: %w", t.f.resume, err)
		}
	}
	return from, nil
}

// train runs the epochs from position from and prints the test accuracy.
func (t *trainer) train(data *mnist.Splits, from train.Position) error {
	r := t.run
	trainSet := data.Train
	if r.Data.MaxTrain > 0 {
		trainSet = trainSet.Head(r.Data.MaxTrain)
	}
	batches := (trainSet.Len() + r.Batch - 1) / r.Batch
	if from.Batch > batches {
		return fmt.Errorf("-resume %s: position epoch %d, batch %d is past the %d batches of an epoch", t.f.resume, from.Epoch+1, from.Batch, batches)
	}
	t.samples = from.Samples
	line := t.describe(trainSet.Len(), from)
	if t.f.cluster.distributed() {
		line += t.f.cluster.note()
	}
	fmt.Fprintln(t.stdout, line)
	if err := t.save(from); err != nil {
		return err
	}

	opts := train.Options{Epochs: r.Epochs, Batch: r.Batch, Seed: r.Seed, Loss: r.LossFunc(), MaxTrain: r.Data.MaxTrain}
	if r.Algorithm.IsPC() {
		opts.CosineEvery = t.f.cosineEvery
	}
	prog := newProgress(t.stdout, r.Epochs)
	hooks := train.Hooks{
		Batch: func(b train.BatchInfo) { t.batch(b, prog) },
		Epoch: func(e train.EpochInfo) error { prog.clear(); return t.epoch(e) },
	}
	pos, err := train.Run(t.ctx, t.learner, data, opts, from, hooks)
	prog.clear()
	switch {
	case err == nil:
	case errors.Is(err, train.ErrDiverged):
		return fmt.Errorf("%v; stopped, and kept the last good checkpoint %s (%s)", err, t.ck.Path, t.ck.LastGood)
	case t.ctx.Err() != nil && errors.Is(err, t.ctx.Err()):
		where := fmt.Sprintf("pcnet: interrupted at epoch %d, batch %d", pos.Epoch+1, pos.Batch)
		if err := t.save(pos); err != nil {
			return &reportedError{fmt.Sprintf("%s; writing the checkpoint failed: %v", where, err)}
		}
		return &reportedError{fmt.Sprintf("%s; checkpoint written to %s (resume with -resume %s)", where, t.ck.Path, t.ck.Path)}
	default:
		return err
	}

	loss, acc, err := train.Evaluate(t.learner.Layers(), r.LossFunc(), data.Test)
	if err != nil {
		return err
	}
	t.metrics.SetLoss(metrics.SplitTest, loss)
	t.metrics.SetAccuracy(metrics.SplitTest, acc)
	fmt.Fprintf(t.stdout, "test accuracy %.2f%% (loss %.4f); checkpoint: %s\n", 100*acc, loss, t.ck.Path)
	return nil
}

// describe is the line printed before training.
func (t *trainer) describe(examples int, from train.Position) string {
	r := t.run
	var b strings.Builder
	fmt.Fprintf(&b, "train %s on %s", r.Algorithm, describeNet(r.Sizes, r.Activation))
	if r.Algorithm.IsPC() {
		fmt.Fprintf(&b, ", T %d, gamma %s", r.PC.Steps, checkpoint.FormatFloat(r.PC.Gamma))
		if r.Algorithm == spec.Scaled {
			fmt.Fprintf(&b, ", k %s", checkpoint.FormatFloat(r.PC.K))
		}
		if r.PC.Precisions != nil {
			fmt.Fprintf(&b, ", precisions %s", checkpoint.FormatFloats(r.PC.Precisions))
		}
		fmt.Fprintf(&b, ", %s engine, %s schedule", r.PC.Engine, r.PC.Schedule)
	}
	o := r.Optimizer
	fmt.Fprintf(&b, "; %s lr %s", o.Kind, checkpoint.FormatFloat(o.LR))
	if o.Kind == optim.SGD && o.Momentum != 0 {
		fmt.Fprintf(&b, " momentum %s", checkpoint.FormatFloat(o.Momentum))
	}
	fmt.Fprintf(&b, "; %s loss; batch %d, %d epochs, seed %d, %d training images", r.Loss, r.Batch, r.Epochs, r.Seed, examples)
	if from != (train.Position{}) {
		fmt.Fprintf(&b, "; resuming at epoch %d, batch %d", from.Epoch+1, from.Batch)
	}
	return b.String()
}

// save writes the checkpoint at position pos.
func (t *trainer) save(pos train.Position) error { return t.ck.Save(t.ctx, t.learner, pos) }

func (t *trainer) batch(b train.BatchInfo, prog *progress) {
	prog.batch(b)
	if v, ok := t.run.Algorithm.Variant(); ok && b.Compared != nil {
		// SetCosine fails only for a layer index or cosine out of range, which Compare
		// does not produce.
		_ = t.metrics.SetCosine(v, metrics.AllLayers, b.Compared.All.Cosine)
		for l, a := range b.Compared.Layers {
			_ = t.metrics.SetCosine(v, l, a.Cosine)
		}
	}
	_ = t.metrics.AddSamples(int(b.Next.Samples - t.samples))
	t.samples = b.Next.Samples
}

func (t *trainer) epoch(e train.EpochInfo) error {
	m := t.metrics
	m.SetEpoch(e.Epoch + 1)
	_ = m.SetLoss(metrics.SplitTrain, e.TrainLoss)
	_ = m.SetLoss(metrics.SplitValidation, e.ValLoss)
	_ = m.SetAccuracy(metrics.SplitValidation, e.ValAccuracy)
	var summary metrics.Summary
	if t.run.Algorithm.IsPC() {
		summary = m.Summary()
	}
	fmt.Fprintln(t.stdout, epochLine(e, t.run.Epochs, t.run.Algorithm, summary))
	return t.save(e.Next)
}

// epochLine formats one finished epoch.
func epochLine(e train.EpochInfo, epochs int, a spec.Algorithm, s metrics.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d  loss %.4f  val acc %.2f%%", e.Epoch+1, epochs, e.TrainLoss, 100*e.ValAccuracy)
	v, isPC := a.Variant()
	if isPC {
		if e.Compared > 0 {
			fmt.Fprintf(&b, "  cos(PC,BP) %.6f", e.MeanCosine)
		}
		var first, conv, unconv []string
		for _, r := range s {
			if r.Variant != v {
				continue
			}
			first = append(first, fmt.Sprintf("d%d:%s", r.Distance, formatStep(r.FirstNonzero)))
			conv = append(conv, fmt.Sprintf("d%d:%s", r.Distance, formatStep(r.Convergence)))
			if r.Unconverged > 0 {
				unconv = append(unconv, fmt.Sprintf("d%d:%.0f%%", r.Distance, 100*float64(r.Unconverged)/float64(r.Inferences)))
			}
		}
		if len(first) > 0 {
			fmt.Fprintf(&b, "  first-nonzero step %s  converged %s", strings.Join(first, " "), strings.Join(conv, " "))
		}
		if len(unconv) > 0 {
			fmt.Fprintf(&b, "  unconverged %s", strings.Join(unconv, " "))
		}
	}
	fmt.Fprintf(&b, "  time %s", seconds(e.Duration))
	if isPC {
		fmt.Fprintf(&b, " (PC steps %s", seconds(e.StepTime))
		if e.Compared > 0 {
			fmt.Fprintf(&b, ", BP %s on the %d compared batches", seconds(e.BPTime), e.Compared)
		}
		b.WriteString(")")
	}
	return b.String()
}

func formatStep(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
