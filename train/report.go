package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// UpdateReport compares the weight updates of PC variants with backprop's on one batch
// and the same weights, all computed in precision T; its JSON form is pcnet compare
// -json's output.
type UpdateReport[T tensor.Float] struct {
	Network struct {
		Sizes      []int  `json:"sizes"`
		Activation string `json:"activation"`
		Loss       string `json:"loss"`
		// Arch, Param and Skips name a layer graph's settings (docs/design.md §11);
		// absent for a chain of dense layers.
		Arch       string `json:"arch,omitempty"`
		Param      string `json:"param,omitempty"`
		Skips      string `json:"skips,omitempty"`
		Checkpoint string `json:"checkpoint"`
		Seed       uint64 `json:"seed"`
		Precision  string `json:"precision"` // "f32" or "f64" (spec.Precision)
	} `json:"network"`
	Batch struct {
		Split string    `json:"split"`
		Index int       `json:"index"`
		Size  int       `json:"size"`
		First int       `json:"first"`
		Loss  JSONFloat `json:"loss"`
	} `json:"batch"`
	Variants []*VariantReport[T] `json:"variants"`

	// The batch, the maps and backprop's gradients dE/dW (the gradient's own sign),
	// for a dump (checkpoint.UpdatesOf).
	X      *tensor.Matrix[T] `json:"-"`
	Labels []int             `json:"-"`
	Maps   []layer.Map[T]    `json:"-"`
	Grads  []*layer.Grad[T]  `json:"-"`
}

// VariantReport is one variant's agreement with backprop, per layer and over all.
type VariantReport[T tensor.Float] struct {
	Variant string          `json:"variant"`
	Steps   int             `json:"steps"`
	Gamma   float64         `json:"gamma"`
	K       float64         `json:"k"`
	Layers  []AgreementJSON `json:"layers"`
	All     AgreementJSON   `json:"all"`
	// ZeroLayers are the weight layers whose update is exactly zero in every element:
	// the layers that do not learn from this batch (Theorem 1: T below the distance of
	// the node above them, docs/design.md §2, §11).
	ZeroLayers []int      `json:"zero_layers"`
	Energy     EnergyJSON `json:"energy"`
	// Updates are the variant's weight updates (PC's sign).
	Updates []*layer.Grad[T] `json:"-"`
}

// AgreementJSON is an Agreement as the report writes it.
type AgreementJSON struct {
	Layer  *int      `json:"layer,omitempty"`
	Cosine JSONFloat `json:"cosine"`
	RelErr JSONFloat `json:"rel_err"`
	Norm   JSONFloat `json:"norm"`
	NormBP JSONFloat `json:"norm_bp"`
	// Ratio is Norm / NormBP, the update's size relative to backprop's (null when
	// backprop's is zero): which layers learn, and how much.
	Ratio JSONFloat `json:"norm_ratio"`
}

// JSONFloat encodes NaN and infinities, which JSON lacks, as null.
type JSONFloat float64

// MarshalJSON implements json.Marshaler.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func agreementJSON(a Agreement, l *int) AgreementJSON {
	return AgreementJSON{Layer: l, Cosine: JSONFloat(a.Cosine), RelErr: JSONFloat(a.RelErr), Norm: JSONFloat(a.NormGot), NormBP: JSONFloat(a.NormWant),
		Ratio: JSONFloat(a.NormRatio())}
}

// EnergyJSON is a variant's energy trace on the batch (pcnet.EnergyTrace): F(t) for
// t = 0..T, and each node's term, nodes 1..H+1 (the output's, the loss, last).
type EnergyJSON struct {
	Total []JSONFloat   `json:"total"`
	Nodes [][]JSONFloat `json:"nodes"`
}

func energyOf(rec *pcnet.Recorder) (EnergyJSON, error) {
	tr, err := pcnet.Energy(rec.Nodes())
	conv := func(v []float64) []JSONFloat {
		out := make([]JSONFloat, len(v))
		for i, f := range v {
			out[i] = JSONFloat(f)
		}
		return out
	}
	e := EnergyJSON{Total: conv(tr.Total), Nodes: [][]JSONFloat{}}
	for _, n := range tr.Nodes {
		e.Nodes = append(e.Nodes, conv(n))
	}
	return e, err
}

// Inferrer runs one inference of run on its maps with the batch (x, labels) at frozen
// weights, reporting every node's steps to obs, and returns its weight updates;
// InferUpdatesOn is the in-process one.
type Inferrer[T tensor.Float] func(ctx context.Context, run *spec.Run, maps []layer.Map[T], x *tensor.Matrix[T], labels []int, obs pcnet.Observer) ([]*layer.Grad[T], error)

// MeasureUpdates computes backprop's gradients on the maps of the runs' layer graph
// (spec.Run.Graph) and the batch, then every run's updates with infer (nil: in this
// process), and adds the batch's loss, the batch, the maps, the gradients and one
// VariantReport per run to rep. The runs share one graph, loss and precision, T's.
func MeasureUpdates[T tensor.Float](ctx context.Context, rep *UpdateReport[T], runs []*spec.Run, maps []layer.Map[T], x *tensor.Matrix[T], labels []int, infer Inferrer[T]) error {
	for _, r := range runs {
		if err := CheckPrecision[T](r); err != nil {
			return err
		}
	}
	g, err := runs[0].Graph()
	if err != nil {
		return err
	}
	rep.Network.Precision = spec.PrecisionOf[T]().String()
	if infer == nil {
		infer = func(ctx context.Context, r *spec.Run, maps []layer.Map[T], x *tensor.Matrix[T], labels []int, obs pcnet.Observer) ([]*layer.Grad[T], error) {
			return InferUpdatesOn(ctx, g, maps, r.PCConfig(obs), x, labels)
		}
	}
	grads, bpUpdate, loss, err := BackpropUpdatesOn(g, maps, runs[0].LossFunc(), x, labels)
	rep.X, rep.Labels, rep.Maps, rep.Grads, rep.Batch.Loss = x, labels, maps, grads, JSONFloat(loss)
	if err != nil {
		return err
	}
	for _, r := range runs {
		rec := &pcnet.Recorder{} // the energy trace, from either path
		updates, err := infer(ctx, r, maps, x, labels, rec)
		if err != nil {
			if cause := context.Cause(ctx); ctx.Err() != nil && cause != ctx.Err() {
				// An interrupt's cause (the signal) is what the user needs to read.
				return fmt.Errorf("%s: %w", r.Algorithm, cause)
			}
			// The engine's own error, which names the node that was waiting.
			return fmt.Errorf("%s: %w", r.Algorithm, err)
		}
		vr := &VariantReport[T]{Variant: r.Algorithm.String(), Steps: r.PC.Steps, Gamma: r.PC.Gamma, K: r.PC.K, Updates: updates}
		cmp := Compare(updates, bpUpdate)
		for l, a := range cmp.Layers {
			vr.Layers = append(vr.Layers, agreementJSON(a, &l))
		}
		vr.All = agreementJSON(cmp.All, nil)
		vr.ZeroLayers = zeroLayers(updates)
		if vr.Energy, err = energyOf(rec); err != nil {
			return fmt.Errorf("%s: %w", r.Algorithm, err)
		}
		rep.Variants = append(rep.Variants, vr)
	}
	return nil
}

// WriteTable writes the report as pcnet compare's table.
func (r *UpdateReport[T]) WriteTable(w io.Writer) error {
	source := fmt.Sprintf("a fresh network (seed %d)", r.Network.Seed)
	if r.Network.Checkpoint != "" {
		source = "checkpoint " + r.Network.Checkpoint
	}
	act, _ := layer.ParseActivation(r.Network.Activation)
	fmt.Fprintf(w, "network  %s%s, %s loss, %s, %s\n", spec.DescribeNet(r.Network.Sizes, act), graphNote(r.Network.Arch, r.Network.Param, r.Network.Skips), r.Network.Loss, spec.PrecisionOf[T]().Type(), source)
	fmt.Fprintf(w, "batch    %s images %d..%d (B = %d, batch index %d), loss %.6f\n\n",
		r.Batch.Split, r.Batch.First, r.Batch.First+r.Batch.Size-1, r.Batch.Size, r.Batch.Index, float64(r.Batch.Loss))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tT\tgamma\tk\tlayer\tcosine\trel.err\t|PC update|\t|BP update|\t|PC|/|BP|")
	for _, v := range r.Variants {
		head := []string{v.Variant, strconv.Itoa(v.Steps), strconv.FormatFloat(v.Gamma, 'g', -1, 64), "-"}
		if v.Variant == spec.Scaled.String() {
			head[3] = strconv.FormatFloat(v.K, 'g', -1, 64)
		}
		for i, a := range append(slices.Clone(v.Layers), v.All) {
			cells := head
			if i > 0 {
				cells = []string{"", "", "", ""}
			}
			layerName := "all"
			if a.Layer != nil {
				layerName = strconv.Itoa(*a.Layer)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cells[0], cells[1], cells[2], cells[3], layerName,
				fixed(a.Cosine, "%.9f"), fixed(a.RelErr, "%.3e"), fixed(a.Norm, "%.6e"), fixed(a.NormBP, "%.6e"), fixed(a.Ratio, "%.6f"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range r.Variants {
		switch len(v.ZeroLayers) {
		case 0:
		case 1:
			fmt.Fprintf(w, "%s: weight layer %d takes an exactly zero update\n", v.Variant, v.ZeroLayers[0])
		default:
			fmt.Fprintf(w, "%s: weight layers %s take an exactly zero update\n", v.Variant, strings.Trim(fmt.Sprint(v.ZeroLayers), "[]"))
		}
	}
	return nil
}

// SetNetwork fills Network's description of the run's network: sizes, activation,
// loss, and a layer graph's settings when they are not the chain's defaults.
func (r *UpdateReport[T]) SetNetwork(run *spec.Run) {
	n := &r.Network
	n.Sizes, n.Activation, n.Loss = run.Sizes, run.Activation.String(), run.Loss
	n.Arch, n.Param, n.Skips = GraphNames(run)
}

// GraphNames returns a layer graph's settings as the reports and the epoch logs write
// them, "" for each that is the chain's default (graph.Chain, layer.Standard, no skips).
func GraphNames(run *spec.Run) (arch, param, skips string) {
	if run.Arch != graph.Chain {
		arch = run.Arch.String()
	}
	if run.Param != layer.Standard {
		param = run.Param.String()
	}
	return arch, param, graph.FormatSkips(run.Skips)
}

// graphNote is what a report's network adds for a layer graph, as spec.DescribeGraph
// writes it: " residual mupc skips 1:4".
func graphNote(arch, param, skips string) string {
	var b strings.Builder
	for _, s := range []string{arch, param} {
		if s != "" {
			b.WriteString(" " + s)
		}
	}
	if skips != "" {
		b.WriteString(" skips " + skips)
	}
	return b.String()
}

// zeroLayers returns the layers whose update is zero in every element (an empty list,
// not nil, for JSON's []).
func zeroLayers[T tensor.Float](updates []*layer.Grad[T]) []int {
	out := []int{}
	for l, u := range updates {
		zero := true
		for _, p := range u.Params() {
			for _, v := range p {
				zero = zero && v == 0
			}
		}
		if zero {
			out = append(out, l)
		}
	}
	return out
}

// fixed formats v, or "-" for NaN (a layer whose update is zero).
func fixed(v JSONFloat, format string) string {
	if math.IsNaN(float64(v)) {
		return "-"
	}
	return fmt.Sprintf(format, float64(v))
}
