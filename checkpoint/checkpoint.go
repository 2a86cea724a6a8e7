package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// Format is the value of the metadata key "format" that this package writes and reads.
const Format = "pcnet-checkpoint/1"

// maxExactInt is the largest step count a float64 scalar tensor holds exactly.
const maxExactInt = 1 << 53

// Checkpoint is a network's weights, its optimiser state, the specification of the run
// that produced it and where that run stood, in the run's precision T (Run.Precision:
// a float32 run's tensors are F32 on file).
type Checkpoint[T tensor.Float] struct {
	// Run is the run's specification, stored as is. Its Sizes are the network's (len
	// >= 2).
	Run spec.Run

	Position train.Position // the next batch to learn from
	Step     int64          // optimiser updates applied so far

	// Layers[l] maps node l to node l+1, for a run of dense layers (Run.Dense); nil
	// otherwise.
	Layers []*layer.Dense[T]
	// PreAct[l] maps node l to node l+1, for every other run (a residual network or μPC's
	// parameterisation, docs/design.md §11): weight only, the multiplier, activation and
	// identity skip rebuilt from Run; nil for a run of dense layers. Maps returns
	// whichever of the two the checkpoint holds.
	PreAct []*layer.PreAct[T]
	// OptimizerState[l] holds the state of layer l's weight and bias (a map without a
	// bias has an empty bias state, which the file does not store); nil when the
	// checkpoint has none.
	OptimizerState [][2]TensorState[T]
}

// Maps returns the checkpoint's maps, one per node 0..H: Layers or PreAct as
// layer.Maps (the same values).
func (c *Checkpoint[T]) Maps() []layer.Map[T] {
	if c.Layers != nil {
		return layer.AsMaps(c.Layers)
	}
	return layer.AsMaps(c.PreAct)
}

// SetMaps sets Layers or PreAct, as the run says its maps are, from maps (a learner's
// Maps), and refuses maps of another kind.
func (c *Checkpoint[T]) SetMaps(maps []layer.Map[T]) error {
	c.Layers, c.PreAct = nil, nil
	if c.Run.Dense() {
		if c.Layers = layer.AsDense(maps); c.Layers == nil {
			return fmt.Errorf("a %s run's maps must be dense layers", c.Run.Net())
		}
		return nil
	}
	c.PreAct = make([]*layer.PreAct[T], len(maps))
	for l, m := range maps {
		p, ok := m.(*layer.PreAct[T])
		if !ok {
			return fmt.Errorf("a %s run's map %d must be a pre-activation map", c.Run.Net(), l)
		}
		c.PreAct[l] = p
	}
	return nil
}

// TensorState is the optimiser state of one parameter tensor, as optim.State exposes it.
type TensorState[T tensor.Float] struct {
	Steps   int
	Buffers map[string][]T
}

// Hidden returns H.
func (c *Checkpoint[T]) Hidden() int { return c.Run.Hidden() }

// CaptureOptimizers copies the optimiser states of every layer's weight and bias.
func CaptureOptimizers[T tensor.Float](states [][2]*optim.State[T]) [][2]TensorState[T] {
	out := make([][2]TensorState[T], len(states))
	for l, pair := range states {
		for i, s := range pair {
			if s != nil {
				out[l][i] = TensorState[T]{Steps: s.Steps(), Buffers: s.Buffers()}
			}
		}
	}
	return out
}

// RestoreOptimizers copies the checkpoint's optimiser state into states, which must
// have been made with the checkpoint's optimiser configuration for its layers.
func (c *Checkpoint[T]) RestoreOptimizers(states [][2]*optim.State[T]) error {
	if c.OptimizerState == nil {
		return errors.New("the checkpoint holds no optimizer state")
	}
	if len(states) != len(c.OptimizerState) {
		return fmt.Errorf("optimizer state for %d layers, the network has %d", len(c.OptimizerState), len(states))
	}
	for l, pair := range states {
		for i, s := range pair {
			if s == nil {
				return fmt.Errorf("layer %d %s: no optimizer to restore into", l, paramNames[i])
			}
			ts := c.OptimizerState[l][i]
			if err := s.Restore(ts.Steps, ts.Buffers); err != nil {
				return fmt.Errorf("layer %d %s: %w", l, paramNames[i], err)
			}
		}
	}
	return nil
}

var paramNames = [2]string{"weight", "bias"}

func paramTensor(l, i int) string { return fmt.Sprintf("layers.%d.%s", l, paramNames[i]) }

func optimTensor(l, i int, buf string) string {
	return fmt.Sprintf("optimizer.layers.%d.%s.%s", l, paramNames[i], buf)
}

const stepBuffer = "step"

// Save writes c to path atomically (temporary file, fsync, rename).
func Save[T tensor.Float](path string, c *Checkpoint[T]) error {
	f, err := Encode(c)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return safetensors.WriteFileAtomic(path, f)
}

// Load reads the checkpoint at path in precision T, which must be the one it records
// (Open tells it). Errors name the file.
func Load[T tensor.Float](path string) (*Checkpoint[T], error) {
	o, err := Open(path)
	if err != nil {
		return nil, err
	}
	return As[T](o)
}

// Opened is a checkpoint file read but not yet decoded: its precision says which T to
// decode it in (As).
type Opened struct {
	Path      string
	File      *safetensors.File
	Precision spec.Precision // the precision its metadata records (none: F64)
	// Run and Position are what the metadata says (checked as Decode checks them),
	// for a caller that must read the run before it picks T.
	Run      spec.Run
	Position train.Position
}

// HasOptimizerState reports whether the file holds optimiser state.
func (o *Opened) HasOptimizerState() bool {
	return slices.ContainsFunc(o.File.Tensors, func(t safetensors.Tensor) bool { return strings.HasPrefix(t.Name, "optimizer.") })
}

// Open reads the checkpoint file at path and the precision it records, so that the
// caller can choose T, the one place a precision becomes a type. Errors name the file.
func Open(path string) (*Opened, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err // names the file
	}
	p, err := PrecisionOf(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The metadata does not depend on the precision: read it as float64's.
	c, err := decodeMetadata[float64](f.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Run.Precision = p
	return &Opened{Path: path, File: f, Precision: p, Run: c.Run, Position: c.Position}, nil
}

// As decodes o in precision T. Errors name the file.
func As[T tensor.Float](o *Opened) (*Checkpoint[T], error) {
	c, err := Decode[T](o.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	return c, nil
}

// Read decodes a checkpoint in precision T from r, accepting at most limit bytes (see
// safetensors.Decode).
func Read[T tensor.Float](r io.Reader, limit int64) (*Checkpoint[T], error) {
	f, err := safetensors.Decode(r, limit)
	if err != nil {
		return nil, err
	}
	return Decode[T](f)
}

// Encode turns c into a safetensors file, checking that its parts fit together. The
// weights and optimiser buffers are T's dtype (F32 for float32); the step counts stay
// F64 scalars in both precisions, because they are integers up to 2^53, which float32
// holds exactly only up to 2^24.
func Encode[T tensor.Float](c *Checkpoint[T]) (*safetensors.File, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	f := &safetensors.File{Metadata: c.metadata()}
	for l, m := range c.Maps() {
		if c.Layers != nil {
			d := c.Layers[l]
			f.Tensors = append(f.Tensors,
				safetensors.NewTensor(paramTensor(l, 0), []int{d.Out(), d.In()}, flatten(d.W)),
				safetensors.NewTensor(paramTensor(l, 1), []int{d.Out()}, d.B))
		} else {
			f.Tensors = append(f.Tensors, safetensors.NewTensor(paramTensor(l, 0), []int{m.Out(), m.In()}, flatten(c.PreAct[l].W)))
		}
		if c.OptimizerState == nil {
			continue
		}
		shapes := [2][]int{{m.Out(), m.In()}, {m.Out()}}
		for i, ts := range c.OptimizerState[l][:c.tensorsPerLayer()] {
			f.Tensors = append(f.Tensors, safetensors.NewTensor(optimTensor(l, i, stepBuffer), []int{}, []float64{float64(ts.Steps)}))
			for _, name := range slices.Sorted(maps.Keys(ts.Buffers)) {
				f.Tensors = append(f.Tensors, safetensors.NewTensor(optimTensor(l, i, name), shapes[i], ts.Buffers[name]))
			}
		}
	}
	return f, nil
}

// check reports the first inconsistency between c's parts.
func (c *Checkpoint[T]) check() error {
	if p := spec.PrecisionOf[T](); c.Run.Precision != p {
		return fmt.Errorf("the run's precision is %s but the checkpoint holds %s values", c.Run.Precision, p.Type())
	}
	if len(c.Run.Sizes) < 2 {
		return fmt.Errorf("sizes %v: need at least an input and an output width", c.Run.Sizes)
	}
	if err := c.Run.Optimizer.Validate(); err != nil {
		return err
	}
	if (c.Layers != nil) == (c.PreAct != nil) || (c.Layers != nil) != c.Run.Dense() {
		return fmt.Errorf("a %s run keeps its weights in %s", c.Run.Net(), map[bool]string{true: "Layers", false: "PreAct"}[c.Run.Dense()])
	}
	ms := c.Maps()
	if len(ms) != len(c.Run.Sizes)-1 {
		return fmt.Errorf("%d layers for sizes %v", len(ms), c.Run.Sizes)
	}
	for l, d := range ms {
		if d.In() != c.Run.Sizes[l] || d.Out() != c.Run.Sizes[l+1] {
			return fmt.Errorf("layer %d maps %d to %d, sizes %v say %d to %d", l, d.In(), d.Out(), c.Run.Sizes, c.Run.Sizes[l], c.Run.Sizes[l+1])
		}
	}
	if c.OptimizerState != nil {
		if len(c.OptimizerState) != len(ms) {
			return fmt.Errorf("optimizer state for %d layers, the network has %d", len(c.OptimizerState), len(ms))
		}
		want := bufferNames(c.Run.Optimizer)
		for l, pair := range c.OptimizerState {
			n := [2]int{c.Run.Sizes[l] * c.Run.Sizes[l+1], c.Run.Sizes[l+1]}
			for i, ts := range pair[:c.tensorsPerLayer()] {
				if got := slices.Sorted(maps.Keys(ts.Buffers)); !slices.Equal(got, want) {
					return fmt.Errorf("layer %d %s: optimizer buffers %v, %s keeps %v", l, paramNames[i], got, c.Run.Optimizer.Kind, want)
				}
				for name, b := range ts.Buffers {
					if len(b) != n[i] {
						return fmt.Errorf("layer %d %s: optimizer buffer %s has %d values, want %d", l, paramNames[i], name, len(b), n[i])
					}
				}
				if ts.Steps < 0 || ts.Steps > maxExactInt {
					return fmt.Errorf("layer %d %s: optimizer step count %d out of range", l, paramNames[i], ts.Steps)
				}
			}
		}
	}
	return nil
}

// tensorsPerLayer is the number of parameter tensors each layer stores: weight and
// bias for dense layers, the weight alone for pre-activation maps.
func (c *Checkpoint[T]) tensorsPerLayer() int {
	if c.Run.Dense() {
		return 2
	}
	return 1
}

// bufferNames returns the sorted names of the buffers an optimiser keeps per tensor.
// cfg must be valid.
func bufferNames(cfg optim.Config) []string {
	return slices.Sorted(maps.Keys(cfg.NewState(0).Buffers()))
}

func flatten[T tensor.Float](m *tensor.Matrix[T]) []T {
	r, c := m.Dims()
	if m.Stride == c {
		return m.Data[:r*c]
	}
	out := make([]T, 0, r*c)
	for i := 0; i < r; i++ {
		out = append(out, m.Row(i)...)
	}
	return out
}

// FormatFloat, FormatInts and FormatFloats are how the metadata writes numbers (the
// shortest form that reads back exactly; lists comma-separated), so that a caller can
// compare its settings with a checkpoint's in the same form.
func FormatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// FormatInts writes a list of integers as the metadata does.
func FormatInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// FormatFloats writes a list of floats as the metadata does.
func FormatFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = FormatFloat(x)
	}
	return strings.Join(s, ",")
}

func (c *Checkpoint[T]) metadata() map[string]string {
	m := RunMetadata(&c.Run)
	m["format"] = Format
	m["epoch"] = strconv.Itoa(c.Position.Epoch)
	m["batch_index"] = strconv.Itoa(c.Position.Batch)
	m["samples"] = strconv.FormatInt(c.Position.Samples, 10)
	m["step"] = strconv.FormatInt(c.Step, 10)
	return m
}

// RunMetadata returns the metadata a checkpoint stores of run, in the canonical form
// Decode reads (FormatFloat, FormatInts, FormatFloats), so that a caller can compare its
// settings with a checkpoint's in the same form: key "lr" is the command's -lr, and an
// underscore stands for its flags' hyphen ("weight_decay", "max_train").
func RunMetadata(run *spec.Run) map[string]string {
	r := run
	m := map[string]string{
		"sizes":      FormatInts(r.Sizes),
		"hidden":     strconv.Itoa(r.Hidden()),
		"activation": r.Activation.String(),
		"loss":       r.Loss,
		"variant":    r.Algorithm.String(),
		"steps":      strconv.Itoa(r.PC.Steps),
		"gamma":      FormatFloat(r.PC.Gamma),
		"k":          FormatFloat(r.PC.K),
		"seed":       strconv.FormatUint(r.Seed, 10),
		"batch":      strconv.Itoa(r.Batch),
		"max_train":  strconv.Itoa(r.Data.MaxTrain),
		"epochs":     strconv.Itoa(r.Epochs),
		"precision":  r.Precision.String(),
	}
	if r.PC.Precisions != nil {
		m["precisions"] = FormatFloats(r.PC.Precisions)
	}
	// A chain of dense layers, the default, writes none of the graph's keys, as
	// checkpoints from before graphs; Decode reads their absence as the chain.
	if r.Arch != graph.Chain {
		m["arch"] = r.Arch.String()
	}
	if r.Param != layer.Standard {
		m["param"] = r.Param.String()
	}
	if len(r.Skips) > 0 {
		m["skips"] = graph.FormatSkips(r.Skips)
	}
	if !r.Dense() {
		m["multipliers"] = FormatFloats(multipliers(r))
	}
	// Zero (a Run that never set them) writes nothing, as checkpoints before these
	// keys existed; Decode reads their absence as zero.
	if r.PC.Schedule != 0 {
		m["schedule"] = r.PC.Schedule.String()
	}
	if r.PC.Engine != 0 {
		m["engine"] = r.PC.Engine.String()
	}
	if r.Data.Dir != "" {
		m["data"] = r.Data.Dir
	}
	// MNIST, the default, writes nothing, as checkpoints from before the choice.
	if r.Data.Dataset != "" && r.Data.Dataset != "mnist" {
		m["dataset"] = r.Data.Dataset
	}
	o := r.Optimizer
	m["optimizer"] = o.Kind.String()
	m["lr"] = FormatFloat(o.LR)
	m["weight_decay"] = FormatFloat(o.WeightDecay)
	switch o.Kind {
	case optim.SGD:
		m["momentum"] = FormatFloat(o.Momentum)
		m["dampening"] = FormatFloat(o.Dampening)
		m["nesterov"] = strconv.FormatBool(o.Nesterov)
	case optim.Adam:
		m["beta1"] = FormatFloat(o.Beta1)
		m["beta2"] = FormatFloat(o.Beta2)
		m["eps"] = FormatFloat(o.Eps)
	}
	return m
}

// fixedSettings are the settings a checkpoint fixes, named as the command's flags: those
// that change the numbers (not the engine, the schedule, the data's directory or the
// convergence tolerance).
var fixedSettings = []string{"precision", "variant", "hidden", "width", "activation", "loss", "arch", "param", "skips", "steps", "gamma", "k", "precisions",
	"optimizer", "lr", "weight-decay", "momentum", "dampening", "nesterov", "beta1", "beta2", "eps", "batch", "seed", "max-train", "dataset"}

// FixedSettings returns the settings of run that a checkpoint fixes, by the command's
// flag names ("width": the hidden widths; "precisions": "" when none), in the canonical
// form of RunMetadata, so that a run resumed from a checkpoint can be checked against it
// setting by setting. A setting run's optimiser lacks is absent.
func FixedSettings(run *spec.Run) map[string]string {
	meta := RunMetadata(run)
	meta["width"] = FormatInts(run.Sizes[1 : len(run.Sizes)-1])
	if _, ok := meta["precisions"]; !ok {
		meta["precisions"] = ""
	}
	if _, ok := meta["dataset"]; !ok {
		meta["dataset"] = "mnist" // RunMetadata leaves MNIST, the default, unwritten
	}
	// RunMetadata leaves the chain's defaults unwritten.
	// The skips in graph order, so that "3:8,1:4" and "1:4,3:8" are one setting.
	skips := slices.Clone(run.Skips)
	slices.SortFunc(skips, func(a, b graph.Skip) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	meta["arch"], meta["param"], meta["skips"] = run.Arch.String(), run.Param.String(), graph.FormatSkips(skips)
	m := map[string]string{}
	for _, name := range fixedSettings {
		if v, ok := meta[strings.ReplaceAll(name, "-", "_")]; ok {
			m[name] = v
		}
	}
	return m
}

// Writer writes the checkpoints of one run, in its precision T, to one path.
type Writer[T tensor.Float] struct {
	Path string
	Run  *spec.Run
	// LastGood describes the last checkpoint written ("the initial weights", "after
	// epoch 2", "epoch 3, batch 7"), for a message that names what is kept.
	LastGood string
}

// Save brings the learner's weights up to date (train.Sync, which ctx's cancellation
// does not stop: an interrupted run's checkpoint must still be written) and writes them
// and the optimiser states at position pos, atomically.
func (w *Writer[T]) Save(ctx context.Context, l train.Learner[T], pos train.Position) error {
	if err := train.Sync(context.WithoutCancel(ctx), l); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	opts := l.Optimizers()
	c := &Checkpoint[T]{
		Run: *w.Run, Position: pos, Step: int64(opts[0][0].Steps()), OptimizerState: CaptureOptimizers(opts),
	}
	if err := c.SetMaps(l.Maps()); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	if err := Save(w.Path, c); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	switch {
	case pos == train.Position{}:
		w.LastGood = "the initial weights"
	case pos.Batch == 0:
		w.LastGood = fmt.Sprintf("after epoch %d", pos.Epoch)
	default:
		w.LastGood = fmt.Sprintf("epoch %d, batch %d", pos.Epoch+1, pos.Batch)
	}
	return nil
}

// multipliers returns the multiplier of each of a pre-activation run's maps
// (layer.Param.Multiplier), which the metadata records so that a reader of the file can
// rebuild the forward pass without this package.
func multipliers(r *spec.Run) []float64 {
	L := len(r.Sizes) - 1
	out := make([]float64, L)
	for l := range out {
		out[l] = r.Param.Multiplier(l, L, r.Sizes[l])
	}
	return out
}
