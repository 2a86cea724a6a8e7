package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

type compareFlags struct {
	fs *flag.FlagSet
	runFlags
	checkpoint string
	variants   string
	split      string
	batchIndex int
	json       bool
	dump       string
	cluster    clusterFlags
}

const defaultCompareVariants = "fpa,pc,scaled,zil"

func newCompareFlags() *compareFlags {
	f := &compareFlags{fs: flag.NewFlagSet("compare", flag.ContinueOnError), runFlags: runFlags{run: spec.Default()}}
	fs := f.fs
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file` whose weights to use (empty: a fresh network from -hidden, -width, -activation and -seed)")
	f.registerArch(fs)
	fs.Uint64Var(&f.run.Seed, "seed", defaultRun.Seed, "seed of a fresh network's weights (the same weights pcnet train starts from)")
	fs.StringVar(&f.variants, "variants", defaultCompareVariants, "comma list of the PC `variants` to compare with backprop: fpa, pc, scaled, zil, ipc (ipc: the sum of its T steps' updates at frozen weights)")
	fs.StringVar(&f.variants, "variant", defaultCompareVariants, "the same as -variants")
	f.registerPC(fs)
	fs.StringVar(&f.split, "split", "train", "`split` the batch comes from: train, validation or test")
	f.registerData(fs)
	fs.Lookup("batch").Usage = "batch size `B` (>= 1)"
	fs.IntVar(&f.batchIndex, "batch-index", 0, "use images [I*B, (I+1)*B) of the split, in its stored order (`I` >= 0; 0: the first B)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&f.dump, "dump", "", "write every variant's weight updates and backprop's gradients to this safetensors `file`")
	f.cluster.register(fs)
	registerPrecision(fs, &f.precision, spec.F32, "with -checkpoint, the checkpoint's (another is its weights converted); the workers of -workers or -nats take it from this process")
	return f
}

const compareDetails = `Runs backprop and every requested variant (with -steps, -gamma, -k; zil needs -gamma
1) on the same weights and the same batch, and compares each variant's weight
update dW_l(e_{l+1}) with backprop's update -dE/dW_l, per weight layer (weights and
biases together) and over all layers concatenated: cosine similarity, relative error
||PC - BP|| / ||BP||, both norms and their ratio ||PC|| / ||BP|| (which layers learn, and
how much). FPA with gamma 1 and T >= H gives cosine 1 and relative error ~1e-16. A layer
whose update is zero (T < its distance) has cosine NaN, shown as "-" in the table and
null in JSON; a line after the table, and zero_layers in JSON, name the layers whose
update is exactly zero.

The weights come from -checkpoint (whose architecture -hidden, -width, -activation, -arch,
-param and -skips must then match if given) or are a fresh network seeded with -seed; on
a layer graph (-arch, -param, -skips, docs/design.md §11) backprop runs on the same graph. Everything is computed in
-precision: f32 by default, the checkpoint's with -checkpoint (another converts its
weights); the table's first line and the JSON's network.precision name it.

JSON (-json):

  {"network": {"sizes": [784, 64, ..., 10], "activation": "tanh", "loss": "nll",
               "checkpoint": FILE or "", "seed": 1, "precision": "f32"},
   "batch": {"split": "train", "index": 0, "size": 64, "first": 0, "loss": 2.31},
   "variants": [
     {"variant": "fpa", "steps": 4, "gamma": 1, "k": 1,
      "layers": [{"layer": 0, "cosine": 1, "rel_err": 1e-16, "norm": 0.12, "norm_bp": 0.12,
                  "norm_ratio": 1}, ...],
      "all": {"cosine": 1, "rel_err": 1e-16, "norm": 0.3, "norm_bp": 0.3, "norm_ratio": 1},
      "zero_layers": [],
      "energy": {"total": [F(0), ..., F(T)], "nodes": [[node 1's term at t = 0..T],
                 ..., [the output's]]}}, ...]}

The energy F(t) = sum_l pi_l/2 ||e_l(t)||^2 + E(t) is the free energy inference descends
(docs/design.md §5): hidden node l's term is pi_l/2 ||e_l(t)||^2 (summed over the batch),
the output's the loss E at its current prediction (averaged over the batch); F(0) is the
batch's loss.

-dump FILE writes a safetensors file with the batch ("input" [B, 784], "labels" [B]),
the weights ("layers.<l>.weight", "layers.<l>.bias"), backprop's gradients
("bp.layers.<l>.weight", ...: dE/dW, the gradient's own sign) and every variant's
update ("<variant>.layers.<l>.weight", ...: PC's sign, a negative-gradient estimate).
`

// comparison is what compare's flags resolve to.
type comparison struct {
	f    *compareFlags
	runs []*spec.Run        // one per variant
	ck   *checkpoint.Opened // -checkpoint; nil: a fresh network
}

// measured is a comparison in precision T: the weights, the batch and the report.
type measured[T tensor.Float] struct {
	*comparison
	maps   []layer.Map[T]
	x      *tensor.Matrix[T]
	labels []int
	report train.UpdateReport[T]
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newCompareFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return err
	}
	c, err := f.resolve()
	if err != nil {
		return err
	}
	// The one place the run's precision becomes a type.
	if c.runs[0].Precision == spec.F32 {
		return compareIn[float32](ctx, c, stdout, stderr)
	}
	return compareIn[float64](ctx, c, stdout, stderr)
}

// compareIn makes the weights in precision T and measures and prints c.
func compareIn[T tensor.Float](ctx context.Context, c *comparison, stdout, stderr io.Writer) error {
	r := c.runs[0]
	m := &measured[T]{comparison: c}
	var err error
	if c.ck != nil {
		if m.maps, err = loadMaps[T](c.ck); err != nil {
			return fmt.Errorf("-checkpoint: %w", err)
		}
		m.report.Network.Seed = c.ck.Run.Seed
	} else {
		if m.maps, err = spec.InitialMapsOf[T](r); err != nil {
			return err
		}
		m.report.Network.Seed = r.Seed
	}
	m.report.SetNetwork(r)
	m.report.Network.Checkpoint = c.f.checkpoint
	return m.run(ctx, stdout, stderr)
}

func (c *measured[T]) run(ctx context.Context, stdout, stderr io.Writer) error {
	if err := c.loadBatch(); err != nil {
		return err
	}
	if err := c.measure(ctx, stderr); err != nil {
		return err
	}
	return c.print(stdout)
}

// resolve reads and checks the flags and the checkpoint, and makes the weights.
func (f *compareFlags) resolve() (*comparison, error) {
	explicit := explicitFlags(f.fs)
	var algs []spec.Algorithm
	for _, name := range strings.Split(f.variants, ",") {
		a, err := spec.ParseAlgorithm(strings.TrimSpace(name))
		if err != nil {
			return nil, usagef("-variants %q: want one of %s", name, strings.Join(spec.AlgorithmNames(), ", "))
		}
		if a == spec.BP {
			return nil, usagef("-variants: bp is the reference every variant is compared with; list PC variants only")
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if err := checkSplitName(f.split); err != nil {
		return nil, err
	}
	if f.batchIndex < 0 {
		return nil, usagef("-batch-index: must be >= 0, got %d", f.batchIndex)
	}
	c := &comparison{f: f}
	read := func() (*spec.Run, error) { return f.read(explicit) }
	var r *spec.Run
	var err error
	if f.checkpoint != "" {
		var ck *resumed
		if ck, err = loadResumed("checkpoint", f.checkpoint); err != nil {
			return nil, err
		}
		if !explicit["precision"] {
			f.precision.v = ck.ck.Precision
		}
		r, err = ck.reconcile(f.fs, explicit, []string{"hidden", "width", "activation", "loss", "arch", "param", "skips"}, read)
		c.ck = ck.ck
	} else {
		r, err = read()
	}
	if err != nil {
		return nil, err
	}
	if r.PC.Precisions != nil && !slices.Contains(algs, spec.PC) {
		return nil, usagef("-precisions: only the pc variant takes per-layer precisions, and -variants has no pc")
	}
	for _, a := range algs {
		v := *r
		v.Algorithm = a
		// A setting not given is the variant's own default (spec.DefaultPC).
		v.PC.Steps = f.steps.steps(a, v.Hidden())
		if !f.gamma.set {
			v.PC.Gamma = spec.DefaultPC(a).Gamma
		}
		if a != spec.PC {
			v.PC.Precisions = nil
		}
		if err := validate(&v, map[string]string{"algorithm": "variants"}); err != nil {
			return nil, err
		}
		c.runs = append(c.runs, &v)
	}
	if err := f.cluster.check(algs[0], r.Hidden(), r.PC.Engine); err != nil {
		return nil, err
	}
	for _, v := range c.runs {
		v.Precision = f.precision.v
	}
	return c, nil
}

// loadBatch loads the batch the flags name.
func (c *measured[T]) loadBatch() error {
	f := c.f
	data, err := loadData(c.runs[0].Data.Dataset, c.runs[0].Data.Dir)
	if err != nil {
		return err
	}
	d, _ := splitOf(data, f.split)
	b := c.runs[0].Batch
	if batches := (d.Len() + b - 1) / b; f.batchIndex >= batches {
		return usagef("-batch-index %d: the %s split has %d images, %d batches of %d", f.batchIndex, f.split, d.Len(), batches, b)
	}
	first := f.batchIndex * b
	end := min(first+b, d.Len())
	c.x = mnist.RowsInto[T](d, first, end, nil)
	c.labels = d.Labels[first:end]
	r := &c.report
	r.Batch.Split, r.Batch.Index, r.Batch.Size, r.Batch.First = f.split, f.batchIndex, end-first, first
	return nil
}

// measure measures every variant's updates against backprop's, in this process or in
// the workers the flags ask for.
func (c *measured[T]) measure(ctx context.Context, stderr io.Writer) error {
	if !c.f.cluster.distributed() {
		return train.MeasureUpdates(ctx, &c.report, c.runs, c.maps, c.x, c.labels, nil)
	}
	var workers *clusterLearner[T]
	defer func() {
		if workers != nil {
			workers.Close()
		}
	}()
	infer := func(ctx context.Context, r *spec.Run, maps []layer.Map[T], x *tensor.Matrix[T], labels []int, obs pcnet.Observer) ([]*layer.Grad[T], error) {
		g, err := r.Graph()
		if err != nil {
			return nil, err
		}
		if workers == nil {
			// The placement goes to stderr: stdout may be JSON.
			workers, err = startCluster(ctx, &c.f.cluster, g, maps, r.PCConfig(obs), nil, stderr, stderr)
		} else {
			err = workers.ConfigureGraph(g, maps, r.PCConfig(obs))
		}
		if err != nil {
			return nil, err
		}
		return workers.inferUpdates(ctx, x, labels)
	}
	return train.MeasureUpdates(ctx, &c.report, c.runs, c.maps, c.x, c.labels, infer)
}

// print writes the dump and prints the report.
func (c *measured[T]) print(stdout io.Writer) error {
	f := c.f
	if f.dump != "" {
		if err := checkpoint.SaveUpdates(f.dump, checkpoint.UpdatesOf(&c.report)); err != nil {
			return fmt.Errorf("-dump: %w", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(&c.report)
	}
	if err := c.report.WriteTable(stdout); err != nil {
		return err
	}
	if f.dump != "" {
		fmt.Fprintf(stdout, "updates and gradients written to %s\n", f.dump)
	}
	return nil
}
