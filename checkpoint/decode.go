package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// Decode checks a decoded safetensors file against the checkpoint format and returns
// the checkpoint it holds. Every metadata key is parsed and range-checked, and every
// tensor's presence and shape is checked against the metadata before a layer is built;
// a tensor the format does not know is an error too, since it means the file is not
// what its metadata says. T must be the precision the metadata records (PrecisionOf),
// and every weight and optimiser buffer must be of T's dtype: a float32 run does not
// take a float64 checkpoint's values unawares, nor the reverse. The layers of a float64
// checkpoint alias the file's tensor data.
func Decode[T tensor.Float](f *safetensors.File) (*Checkpoint[T], error) {
	p, err := PrecisionOf(f)
	if err != nil {
		return nil, err
	}
	if want := spec.PrecisionOf[T](); p != want {
		return nil, fmt.Errorf("the checkpoint's precision is %s (%s), not %s (%s)", p, p.Type(), want, want.Type())
	}
	c, err := decodeMetadata[T](f.Metadata)
	if err != nil {
		return nil, err
	}
	tensors := make(map[string]*safetensors.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		tensors[f.Tensors[i].Name] = &f.Tensors[i]
	}
	used := make(map[string]bool, len(f.Tensors))
	need := func(name string, shape []int) (*safetensors.Tensor, error) {
		t, ok := tensors[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing (sizes %s)", name, FormatInts(c.Run.Sizes))
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, want %v for sizes %s", name, t.Shape, shape, FormatInts(c.Run.Sizes))
		}
		used[name] = true
		return t, nil
	}

	if err := c.decodeWeights(need); err != nil {
		return nil, err
	}

	hasState := slices.ContainsFunc(f.Tensors, func(t safetensors.Tensor) bool { return strings.HasPrefix(t.Name, "optimizer.") })
	if hasState {
		bufs := bufferNames(c.Run.Optimizer)
		L := len(c.Run.Sizes) - 1
		c.OptimizerState = make([][2]TensorState[T], L)
		for l := range L {
			shapes := [2][]int{{c.Run.Sizes[l+1], c.Run.Sizes[l]}, {c.Run.Sizes[l+1]}}
			for i := range c.tensorsPerLayer() {
				st, err := need(optimTensor(l, i, stepBuffer), []int{})
				if err != nil {
					return nil, err
				}
				if st.DType != safetensors.F64 {
					return nil, fmt.Errorf("tensor %q is %s, want an F64 step count", st.Name, st.DType)
				}
				steps := st.Data[0]
				if !(steps >= 0 && steps <= maxExactInt && steps == math.Trunc(steps)) {
					return nil, fmt.Errorf("tensor %q holds %v, want a whole number of steps in [0, 2^53]", st.Name, steps)
				}
				ts := TensorState[T]{Steps: int(steps), Buffers: make(map[string][]T, len(bufs))}
				for _, name := range bufs {
					t, err := need(optimTensor(l, i, name), shapes[i])
					if err != nil {
						return nil, fmt.Errorf("%w (%s keeps %s)", err, c.Run.Optimizer.Kind, strings.Join(bufs, ", "))
					}
					if ts.Buffers[name], err = finiteValues[T](t); err != nil {
						return nil, err
					}
				}
				c.OptimizerState[l][i] = ts
			}
			if !c.Run.Dense() {
				c.emptyBiasState(l, bufs)
			}
		}
	}
	for _, t := range f.Tensors {
		if !used[t.Name] {
			return nil, fmt.Errorf("unexpected tensor %q (a %s checkpoint of sizes %s with %s state has no such tensor)",
				t.Name, c.Run.Algorithm, FormatInts(c.Run.Sizes), c.Run.Optimizer.Kind)
		}
	}
	return c, nil
}

// decodeWeights builds the layers from the weight tensors, which need checks and marks
// as used: dense layers (weight and bias) for a run of them, pre-activation maps
// (weight only, the rest from the run: layer.PreActNet) for any other. Every weight
// tensor is checked before a map is built, so that what it allocates is what the file
// holds.
func (c *Checkpoint[T]) decodeWeights(need func(string, []int) (*safetensors.Tensor, error)) error {
	r := &c.Run
	L := len(r.Sizes) - 1
	weights := make([][]T, L)
	for l := range L {
		w, err := need(paramTensor(l, 0), []int{r.Sizes[l+1], r.Sizes[l]})
		if err != nil {
			return err
		}
		if weights[l], err = finiteValues[T](w); err != nil {
			return err
		}
	}
	if !r.Dense() {
		var err error
		if c.PreAct, err = layer.PreActNet[T](r.Sizes, r.Activation, r.Param, r.Arch == graph.Residual); err != nil {
			return err
		}
		for l, m := range c.PreAct {
			m.W = tensor.New(m.Out(), m.In(), weights[l])
		}
		return nil
	}
	for l := range L {
		in, out := r.Sizes[l], r.Sizes[l+1]
		b, err := need(paramTensor(l, 1), []int{out})
		if err != nil {
			return err
		}
		bv, err := finiteValues[T](b)
		if err != nil {
			return err
		}
		act := r.Activation
		if l == L-1 {
			act = layer.Identity
		}
		c.Layers = append(c.Layers, &layer.Dense[T]{Act: act, W: tensor.New(out, in, weights[l]), B: bv})
	}
	return nil
}

// emptyBiasState sets layer l's bias state, for a map without a bias: no values, the
// weight's step count.
func (c *Checkpoint[T]) emptyBiasState(l int, bufs []string) {
	ts := TensorState[T]{Steps: c.OptimizerState[l][0].Steps, Buffers: make(map[string][]T, len(bufs))}
	for _, name := range bufs {
		ts.Buffers[name] = []T{}
	}
	c.OptimizerState[l][1] = ts
}

func notFinite(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// finiteValues returns t's values in T, refusing a dtype other than T's and a value
// that is not finite.
func finiteValues[T tensor.Float](t *safetensors.Tensor) ([]T, error) {
	if i := slices.IndexFunc(t.Data, notFinite); i >= 0 {
		return nil, fmt.Errorf("tensor %q holds %v at index %d", t.Name, t.Data[i], i)
	}
	return safetensors.Values[T](t) // its error names the tensor and both dtypes
}

// PrecisionOf returns the precision f's metadata records: F64 when it records none (a
// checkpoint from before the choice). It checks that f is a pcnet checkpoint first.
func PrecisionOf(f *safetensors.File) (spec.Precision, error) {
	format, ok := f.Metadata["format"]
	switch {
	case !ok:
		return 0, fmt.Errorf("not a pcnet checkpoint: the header's __metadata__ has no %q key", "format")
	case format != Format:
		return 0, fmt.Errorf("not a pcnet checkpoint: metadata format is %q, want %q", format, Format)
	}
	s, ok := f.Metadata["precision"]
	if !ok {
		return spec.F64, nil
	}
	p, err := spec.ParsePrecision(s)
	if err != nil {
		return 0, fmt.Errorf("metadata %q: %v", "precision", err)
	}
	return p, nil
}

// decodeMetadata parses every key of the format except the tensors'.
func decodeMetadata[T tensor.Float](m map[string]string) (*Checkpoint[T], error) {
	r := metaReader{m: m}
	c := &Checkpoint[T]{}
	c.Run.Precision = spec.PrecisionOf[T]()
	run := &c.Run
	run.Sizes = r.sizes("sizes")
	hidden := r.int("hidden", 0)
	if r.err == nil && hidden != len(run.Sizes)-2 {
		r.fail("hidden", fmt.Sprintf("%d hidden layers, but sizes %s has %d", hidden, FormatInts(run.Sizes), len(run.Sizes)-2))
	}
	run.Activation = parse(&r, "activation", layer.ParseActivation, "")
	run.Loss = parse(&r, "loss", func(s string) (string, error) { _, err := layer.ParseLoss(s); return s, err }, "want one of nll, mse, ce, sse")
	run.Algorithm = parse(&r, "variant", spec.ParseAlgorithm, "want one of "+strings.Join(spec.AlgorithmNames(), ", "))
	r.graph(run)
	run.PC.Steps = r.int("steps", 0)
	run.PC.Gamma = r.positive("gamma")
	run.PC.K = r.positive("k")
	run.PC.Precisions = r.precisions(len(run.Sizes) - 2)
	if _, ok := m["schedule"]; ok {
		run.PC.Schedule = parse(&r, "schedule", pcnet.ParseSchedule, "")
	}
	if _, ok := m["engine"]; ok {
		run.PC.Engine = parse(&r, "engine", pcnet.ParseEngine, "")
	}
	run.Data.Dir = m["data"]
	run.Data.Dataset = m["dataset"]
	run.Optimizer = r.optimizer()
	run.Seed = r.uint64("seed")
	run.Batch = r.int("batch", 1)
	run.Data.MaxTrain = r.int("max_train", 0)
	run.Epochs = r.int("epochs", 0)
	c.Position.Epoch = r.int("epoch", 0)
	c.Position.Batch = r.int("batch_index", 0)
	c.Position.Samples = int64(r.int("samples", 0))
	c.Step = int64(r.int("step", 0))
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// parse reads key with its package's parser (spec.ParseAlgorithm, pcnet.ParseSchedule,
// ...), so that the names a checkpoint may hold are the ones those packages know; want
// is the problem to report ("": the parser's error).
func parse[T any](r *metaReader, key string, p func(string) (T, error), want string) T {
	var zero T
	s, ok := r.str(key)
	if !ok {
		return zero
	}
	v, err := p(s)
	if err != nil {
		if want == "" {
			want = err.Error()
		}
		r.fail(key, want)
		return zero
	}
	return v
}

// graph parses the optional keys of a layer graph (arch, param, skips; absent: the chain
// of dense layers) and checks them against the sizes, and a pre-activation run's
// multipliers against its parameterisation's.
func (r *metaReader) graph(run *spec.Run) {
	if r.err != nil {
		return
	}
	if _, ok := r.m["arch"]; ok {
		run.Arch = parse(r, "arch", graph.ParseShape, "want chain or residual")
	}
	if _, ok := r.m["param"]; ok {
		run.Param = parse(r, "param", layer.ParseParam, "want standard or mupc")
	}
	if _, ok := r.m["skips"]; ok {
		run.Skips = parse(r, "skips", graph.ParseSkips, "")
	}
	if r.err != nil {
		return
	}
	if _, err := run.Graph(); err != nil {
		key, problem := "skips", err.Error()
		var fe *spec.FieldError
		if errors.As(err, &fe) {
			problem = fe.Problem
			if fe.Field == "arch" {
				key = "arch"
			}
		}
		r.fail(key, problem)
		return
	}
	s, ok := r.m["multipliers"]
	if run.Dense() {
		if ok {
			r.fail("multipliers", "a run of dense layers has no multipliers")
		}
		return
	}
	if want := FormatFloats(multipliers(run)); ok && s != want {
		r.fail("multipliers", fmt.Sprintf("want %s, the %s parameterisation's", want, run.Param))
	}
}

// precisions parses the optional per-layer precisions of h hidden layers.
func (r *metaReader) precisions(h int) []float64 {
	s, ok := r.m["precisions"]
	if !ok || r.err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			r.fail("precisions", "want a comma-separated list of finite numbers > 0")
			return nil
		}
		out = append(out, v)
	}
	if len(out) != h {
		r.fail("precisions", fmt.Sprintf("%d values for %d hidden layers", len(out), h))
	}
	return out
}

// metaReader parses metadata values, keeping the first error.
type metaReader struct {
	m   map[string]string
	err error
}

func (r *metaReader) fail(key, problem string) {
	if r.err == nil {
		r.err = fmt.Errorf("metadata %q = %q: %s", key, r.m[key], problem)
	}
}

func (r *metaReader) str(key string) (string, bool) {
	if r.err != nil {
		return "", false
	}
	s, ok := r.m[key]
	if !ok {
		r.err = fmt.Errorf("metadata %q is missing", key)
	}
	return s, ok
}

// int parses a non-negative decimal integer of at least lo.
func (r *metaReader) int(key string, lo int) int {
	s, ok := r.str(key)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < int64(lo) || v > math.MaxInt {
		r.fail(key, fmt.Sprintf("want an integer >= %d", lo))
		return 0
	}
	return int(v)
}

func (r *metaReader) uint64(key string) uint64 {
	s, ok := r.str(key)
	if !ok {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		r.fail(key, "want an unsigned integer")
	}
	return v
}

func (r *metaReader) float(key string) float64 {
	s, ok := r.str(key)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		r.fail(key, "want a number")
	}
	return v
}

func (r *metaReader) positive(key string) float64 {
	v := r.float(key)
	if r.err == nil && (!(v > 0) || math.IsInf(v, 0)) {
		r.fail(key, "want a finite number > 0")
	}
	return v
}

func (r *metaReader) bool(key string) bool {
	s, ok := r.str(key)
	if !ok {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		r.fail(key, "want true or false")
	}
	return v
}

// sizes parses the node widths: at least two, each >= 1.
func (r *metaReader) sizes(key string) []int {
	s, ok := r.str(key)
	if !ok {
		return nil
	}
	fields := strings.Split(s, ",")
	if len(fields) < 2 {
		r.fail(key, "want at least an input and an output width")
		return nil
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			r.fail(key, "want comma-separated widths >= 1")
			return nil
		}
		out[i] = v
	}
	return out
}

func (r *metaReader) optimizer() optim.Config {
	s, ok := r.str("optimizer")
	if !ok {
		return optim.Config{}
	}
	kind, err := optim.ParseKind(s)
	if err != nil {
		r.fail("optimizer", "want sgd or adam")
		return optim.Config{}
	}
	cfg := optim.Config{Kind: kind, LR: r.float("lr"), WeightDecay: r.float("weight_decay")}
	switch kind {
	case optim.SGD:
		cfg.Momentum = r.float("momentum")
		cfg.Dampening = r.float("dampening")
		cfg.Nesterov = r.bool("nesterov")
	case optim.Adam:
		cfg.Beta1 = r.float("beta1")
		cfg.Beta2 = r.float("beta2")
		cfg.Eps = r.float("eps")
	}
	if r.err == nil {
		if err := cfg.Validate(); err != nil {
			r.err = fmt.Errorf("metadata: optimizer settings: %w", err)
		}
	}
	return cfg
}
