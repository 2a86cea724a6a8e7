package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"gonum.org/v1/gonum/mat"
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
	return f
}

const compareDetails = `Runs backprop and every requested variant (with -steps, -gamma, -k; zil needs -gamma
1) on the same weights and the same batch, and compares each variant's weight
update dW_l(e_{l+1}) with backprop's update -dE/dW_l, per weight layer (weights and
biases together) and over all layers concatenated: cosine similarity, relative error
||PC - BP|| / ||BP|| and both norms. FPA with gamma 1 and T >= H gives cosine 1 and
relative error ~1e-16. A layer whose update is zero (T < its distance) has cosine NaN,
shown as "-" in the table and null in JSON.

The weights come from -checkpoint (whose architecture -hidden, -width and -activation must
then match if given) or are a fresh network seeded with -seed.

JSON (-json):

  {"network": {"sizes": [784, 64, ..., 10], "activation": "tanh", "loss": "nll",
               "checkpoint": FILE or "", "seed": 1},
   "batch": {"split": "train", "index": 0, "size": 64, "first": 0, "loss": 2.31},
   "variants": [
     {"variant": "fpa", "steps": 4, "gamma": 1, "k": 1,
      "layers": [{"layer": 0, "cosine": 1, "rel_err": 1e-16, "norm": 0.12, "norm_bp": 0.12}, ...],
      "all": {"cosine": 1, "rel_err": 1e-16, "norm": 0.3, "norm_bp": 0.3},
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

// jsonFloat encodes NaN and infinities, which JSON lacks, as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

type agreementJSON struct {
	Layer  *int      `json:"layer,omitempty"`
	Cosine jsonFloat `json:"cosine"`
	RelErr jsonFloat `json:"rel_err"`
	Norm   jsonFloat `json:"norm"`
	NormBP jsonFloat `json:"norm_bp"`
}

func agreement(a train.Agreement, l *int) agreementJSON {
	return agreementJSON{Layer: l, Cosine: jsonFloat(a.Cosine), RelErr: jsonFloat(a.RelErr), Norm: jsonFloat(a.NormGot), NormBP: jsonFloat(a.NormWant)}
}

type variantReport struct {
	Variant string          `json:"variant"`
	Steps   int             `json:"steps"`
	Gamma   float64         `json:"gamma"`
	K       float64         `json:"k"`
	Layers  []agreementJSON `json:"layers"`
	All     agreementJSON   `json:"all"`
	Energy  energyJSON      `json:"energy"`

	updates []*layer.Grad
}

// energyJSON is a variant's energy trace on the batch (pcnet.EnergyTrace): F(t) for
// t = 0..T, and each node's term, nodes 1..H+1 (the output's, the loss, last).
type energyJSON struct {
	Total []jsonFloat   `json:"total"`
	Nodes [][]jsonFloat `json:"nodes"`
}

func energyOf(rec *pcnet.Recorder) (energyJSON, error) {
	tr, err := pcnet.Energy(rec.Nodes())
	conv := func(v []float64) []jsonFloat {
		out := make([]jsonFloat, len(v))
		for i, f := range v {
			out[i] = jsonFloat(f)
		}
		return out
	}
	e := energyJSON{Total: conv(tr.Total), Nodes: [][]jsonFloat{}}
	for _, n := range tr.Nodes {
		e.Nodes = append(e.Nodes, conv(n))
	}
	return e, err
}

type compareReport struct {
	Network struct {
		Sizes      []int  `json:"sizes"`
		Activation string `json:"activation"`
		Loss       string `json:"loss"`
		Checkpoint string `json:"checkpoint"`
		Seed       uint64 `json:"seed"`
	} `json:"network"`
	Batch struct {
		Split string    `json:"split"`
		Index int       `json:"index"`
		Size  int       `json:"size"`
		First int       `json:"first"`
		Loss  jsonFloat `json:"loss"`
	} `json:"batch"`
	Variants []*variantReport `json:"variants"`
}

// comparison is what compare's flags resolve to.
type comparison struct {
	f        *compareFlags
	runs     []*spec.Run // one per variant
	layers   []*layer.Dense
	x        *mat.Dense
	labels   []int
	report   compareReport
	grads    []*layer.Grad // backprop's dE/dtheta
	bpUpdate []*layer.Grad // and in PC's sign
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
	if err := c.loadBatch(); err != nil {
		return err
	}
	if err := c.backprop(); err != nil {
		return err
	}
	if err := c.variants(ctx, stderr); err != nil {
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
		r, err = ck.reconcile(f.fs, explicit, []string{"hidden", "width", "activation", "loss"}, read)
		c.layers, c.report.Network.Seed = ck.ck.Layers, ck.ck.Run.Seed
	} else {
		r, err = read()
		c.report.Network.Seed = r.Seed
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
	if c.layers == nil {
		if c.layers, err = layer.NewMLP(r.Sizes, r.Activation, rand.New(rand.NewPCG(r.Seed, 0))); err != nil {
			return nil, err
		}
	}
	n := &c.report.Network
	n.Sizes, n.Activation, n.Loss, n.Checkpoint = r.Sizes, r.Activation.String(), r.Loss, f.checkpoint
	return c, nil
}

// loadBatch loads the batch the flags name.
func (c *comparison) loadBatch() error {
	f := c.f
	data, err := loadData(f.run.Data.Dir)
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
	c.x = d.X.Slice(first, end, 0, d.Dim()).(*mat.Dense)
	c.labels = d.Labels[first:end]
	r := &c.report
	r.Batch.Split, r.Batch.Index, r.Batch.Size, r.Batch.First = f.split, f.batchIndex, end-first, first
	return nil
}

// backprop computes backprop's gradients, the reference.
func (c *comparison) backprop() error {
	var loss float64
	var err error
	c.grads, c.bpUpdate, loss, err = train.BackpropUpdates(c.layers, c.runs[0].LossFunc(), c.x, c.labels)
	c.report.Batch.Loss = jsonFloat(loss)
	return err
}

// variants runs every variant's inference and compares its updates with backprop's.
func (c *comparison) variants(ctx context.Context, stderr io.Writer) error {
	var workers *clusterLearner
	defer func() {
		if workers != nil {
			workers.Close()
		}
	}()
	for _, r := range c.runs {
		rec := &pcnet.Recorder{} // the energy trace, from either path
		cfg := r.PCConfig(rec)
		var updates []*layer.Grad
		var err error
		switch {
		case !c.f.cluster.distributed():
			updates, err = train.InferUpdates(ctx, c.layers, cfg, c.x, c.labels)
		case workers == nil:
			// The placement goes to stderr: stdout may be JSON.
			if workers, err = c.f.cluster.start(ctx, c.layers, cfg, nil, stderr, stderr); err == nil {
				updates, err = workers.inferUpdates(ctx, c.x, c.labels)
			}
		default:
			if err = workers.Configure(c.layers, cfg); err == nil {
				updates, err = workers.inferUpdates(ctx, c.x, c.labels)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", r.Algorithm, context.Cause(ctx))
			}
			return fmt.Errorf("%s: %w", r.Algorithm, err)
		}
		vr := &variantReport{Variant: r.Algorithm.String(), Steps: r.PC.Steps, Gamma: r.PC.Gamma, K: r.PC.K, updates: updates}
		cmp := train.Compare(updates, c.bpUpdate)
		for l, a := range cmp.Layers {
			vr.Layers = append(vr.Layers, agreement(a, &l))
		}
		vr.All = agreement(cmp.All, nil)
		if vr.Energy, err = energyOf(rec); err != nil {
			return fmt.Errorf("%s: %w", r.Algorithm, err)
		}
		c.report.Variants = append(c.report.Variants, vr)
	}
	return nil
}

// print writes the dump and prints the report.
func (c *comparison) print(stdout io.Writer) error {
	f := c.f
	if f.dump != "" {
		if err := writeDump(f.dump, c); err != nil {
			return fmt.Errorf("-dump: %w", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(&c.report)
	}
	printCompareTable(stdout, &c.report)
	if f.dump != "" {
		fmt.Fprintf(stdout, "updates and gradients written to %s\n", f.dump)
	}
	return nil
}

func printCompareTable(w io.Writer, r *compareReport) {
	source := fmt.Sprintf("a fresh network (seed %d)", r.Network.Seed)
	if r.Network.Checkpoint != "" {
		source = "checkpoint " + r.Network.Checkpoint
	}
	fmt.Fprintf(w, "network  %s, %s loss, %s\n", describeNet(r.Network.Sizes, mustActivation(r.Network.Activation)), r.Network.Loss, source)
	fmt.Fprintf(w, "batch    %s images %d..%d (B = %d, batch index %d), loss %.6f\n\n",
		r.Batch.Split, r.Batch.First, r.Batch.First+r.Batch.Size-1, r.Batch.Size, r.Batch.Index, float64(r.Batch.Loss))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tT\tgamma\tk\tlayer\tcosine\trel.err\t|PC update|\t|BP update|")
	for _, v := range r.Variants {
		k := "-"
		if v.Variant == pcnet.VarianceScaled.String() {
			k = checkpoint.FormatFloat(v.K)
		}
		rows := append(slices.Clone(v.Layers), v.All)
		for i, a := range rows {
			name, layerName := "", "all"
			if i == 0 {
				name = v.Variant
			}
			if a.Layer != nil {
				layerName = strconv.Itoa(*a.Layer)
			}
			t, g, kk := "", "", ""
			if i == 0 {
				t, g, kk = strconv.Itoa(v.Steps), checkpoint.FormatFloat(v.Gamma), k
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, t, g, kk, layerName,
				fixed(a.Cosine, "%.9f"), fixed(a.RelErr, "%.3e"), fixed(a.Norm, "%.6e"), fixed(a.NormBP, "%.6e"))
		}
	}
	tw.Flush()
}

func fixed(v jsonFloat, format string) string {
	if math.IsNaN(float64(v)) {
		return "-"
	}
	return fmt.Sprintf(format, float64(v))
}

func mustActivation(s string) layer.Activation {
	a, _ := layer.ParseActivation(s)
	return a
}

// writeDump writes the batch, the weights, backprop's gradients and every variant's
// updates to path.
func writeDump(path string, c *comparison) error {
	r := &c.report
	u := &checkpoint.Updates{
		Sizes: r.Network.Sizes, Activation: r.Network.Activation, Loss: r.Network.Loss,
		Split: r.Batch.Split, BatchIndex: r.Batch.Index, First: r.Batch.First,
		X: c.x, Labels: c.labels, Layers: c.layers, Grads: c.grads,
	}
	for _, v := range r.Variants {
		u.Variants = append(u.Variants, checkpoint.VariantUpdates{Name: v.Variant, Steps: v.Steps, Gamma: v.Gamma, K: v.K, Updates: v.updates})
	}
	return checkpoint.SaveUpdates(path, u)
}
