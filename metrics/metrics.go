package metrics

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Defaults of Options and Serve.
const (
	// DefaultAddr is where Serve listens when given no address: loopback only, since the
	// metrics of a training run are nobody else's business.
	DefaultAddr = "127.0.0.1:2112"
	// DefaultMaxStep is the largest step bucket of the step histograms.
	DefaultMaxStep = 64
	// DefaultConvergenceTolerance is the relative tolerance of convergence.
	DefaultConvergenceTolerance = 1e-6
)

// The splits SetLoss and SetAccuracy accept, as package train and mnist name them.
const (
	SplitTrain      = "train"
	SplitValidation = "validation"
	SplitTest       = "test"
)

// AllLayers is the layer SetCosine takes for the cosine over all weight layers
// concatenated (labelled layer="all").
const AllLayers = -1

// maxLayer bounds the layer index SetCosine accepts, so that the layer label stays bounded
// even when the caller errs.
const maxLayer = 1023

// Options configure New. The zero value is ready to use.
type Options struct {
	// MaxStep is the largest bucket of the step histograms, which have a bucket at every
	// integer step 0, 1, ..., MaxStep (and +Inf). Zero means DefaultMaxStep. Steps
	// beyond it still count, in +Inf only; make it at least the T you run.
	MaxStep int
	// ConvergenceTolerance is the relative tolerance tol of convergence: inference step t
	// moved a node's error when max|e(t) - e(t-1)| > tol * max|e(t)|. Relative, because
	// the errors' scale varies with the batch size (the output error carries 1/B) and
	// shrinks with depth. It must lie in (0, 1); zero means DefaultConvergenceTolerance.
	ConvergenceTolerance float64
	// SkipGoAndProcessCollectors leaves out the Go runtime and process collectors, for a
	// registry that has them already or tests that want only pcnet's series. (If the
	// registry already holds them, New uses those and carries on.)
	SkipGoAndProcessCollectors bool
	// Run, when not empty, is the value of a label run="..." on every series New
	// registers, the Go and process collectors' included, so that several runs can share
	// one Prometheus and one dashboard (its $run variable). New puts it on the registry
	// once (prometheus.WrapRegistererWith), not on each collector. CheckRunLabel says
	// what it may hold; DefaultRunLabel makes one.
	Run string
	// Precision, when not empty, is the run's element type ("f32" or "f64",
	// spec.Precision), which New exports as the gauge pcnet_run_info{precision="f32"} 1,
	// in the manner of a build-info metric: one series to join on rather than a label on
	// every series.
	Precision string
}

// MaxRunLabel bounds the length of Options.Run.
const MaxRunLabel = 64

// CheckRunLabel checks a run label: 1 to MaxRunLabel letters, digits and . _ : - (so
// that it needs no quoting in a URL, a file name or the dashboard's regex filter).
func CheckRunLabel(s string) error {
	if s == "" || len(s) > MaxRunLabel {
		return fmt.Errorf("run label %q: want 1 to %d characters", s, MaxRunLabel)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)
		if !ok {
			return fmt.Errorf("run label %q: %q is not a letter, digit, '.', '_', ':' or '-'", s, c)
		}
	}
	return nil
}

// DefaultRunLabel returns prefix and a random 4-hex-digit suffix, "fpa-H4-seed1-3f9a"
// for prefix "fpa-H4-seed1": two runs of the same settings still get two labels.
func DefaultRunLabel(prefix string) string {
	return fmt.Sprintf("%s-%04x", prefix, rand.Uint32()&0xffff)
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxStep == 0 {
		o.MaxStep = DefaultMaxStep
	}
	if o.ConvergenceTolerance == 0 {
		o.ConvergenceTolerance = DefaultConvergenceTolerance
	}
	if o.Run != "" {
		if err := CheckRunLabel(o.Run); err != nil {
			return o, fmt.Errorf("metrics: Run: %w", err)
		}
	}
	if o.MaxStep < 1 || o.MaxStep > 4096 {
		return o, fmt.Errorf("metrics: MaxStep = %d: want 1..4096 (one histogram bucket per step)", o.MaxStep)
	}
	if !(o.ConvergenceTolerance > 0 && o.ConvergenceTolerance < 1) {
		return o, fmt.Errorf("metrics: ConvergenceTolerance = %v: want a relative tolerance in (0, 1)", o.ConvergenceTolerance)
	}
	return o, nil
}

// Label names. Every label is bounded: variant by pcnet's variants, distance and layer
// by the depth of the networks observed, split, direction, outcome and payload by fixed
// sets, run by being one constant value per registry.
const (
	labelRun       = "run"
	labelPrecision = "precision"
	runInfoName    = "pcnet_run_info"
	labelVariant   = "variant"
	labelDistance  = "distance"
	labelLayer     = "layer"
	labelSplit     = "split"
	labelDirection = "direction"
	labelOutcome   = "outcome"
	labelPayload   = "payload"
	labelStep      = "step"
)

// Metrics holds pcnet's collectors on the registry given to New. It is a pcnet.Observer:
// put it in pcnet.Config.Observer of as many networks as you like, at once or in turn.
// The training methods (SetLoss and so on) are safe for concurrent use.
type Metrics struct {
	opts Options

	// Inference, by variant and distance.
	firstNonzero *prometheus.HistogramVec
	convergence  *prometheus.HistogramVec
	unreached    *prometheus.CounterVec
	unconverged  *prometheus.CounterVec

	// Work, by variant (and direction or layer).
	inferences   *prometheus.CounterVec
	updates      *prometheus.CounterVec
	steps        *prometheus.CounterVec
	vjps         *prometheus.CounterVec
	messages     *prometheus.CounterVec
	messageBytes *prometheus.CounterVec
	compute      *prometheus.CounterVec
	wait         *prometheus.CounterVec
	hidden       *prometheus.GaugeVec
	batchLoss    *prometheus.GaugeVec
	energy       *prometheus.GaugeVec
	energyDrop   *prometheus.GaugeVec

	// Training.
	loss     *prometheus.GaugeVec
	accuracy *prometheus.GaugeVec
	epoch    prometheus.Gauge
	samples  prometheus.Counter
	cosine   *prometheus.GaugeVec
	ratio    *prometheus.GaugeVec

	// Links between processes (workers).
	links *linkTraffic

	mu        sync.Mutex
	variants  map[pcnet.Variant]*variantMetrics
	distances map[distanceKey]*distanceTally
}

// variantMetrics are the children of one variant's series that Batch and every node's
// End update, bound once per variant.
type variantMetrics struct {
	inferences, updates, steps prometheus.Counter
	loss                       prometheus.Gauge
	energyFirst, energyLast    prometheus.Gauge
	energyDrop                 prometheus.Gauge
	vjpsComputed, vjpsSkipped  prometheus.Counter
	messagesUp, messagesDown   [channels.NumPayloads]prometheus.Counter
	bytesUp, bytesDown         [channels.NumPayloads]prometheus.Counter
	hidden                     prometheus.Gauge
}

// New builds pcnet's collectors and registers them on reg, along with the Go runtime and
// process collectors unless opts says otherwise. It fails if reg already holds pcnet's
// collectors (one Metrics per registry) or opts is out of range.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: New needs a prometheus.Registerer (for example prometheus.NewRegistry())")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Run != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{labelRun: opts.Run}, reg)
	}
	steps := prometheus.LinearBuckets(0, 1, opts.MaxStep+1)
	b := builder{}
	m := &Metrics{
		opts:      opts,
		variants:  map[pcnet.Variant]*variantMetrics{},
		distances: map[distanceKey]*distanceTally{},

		firstNonzero: b.histogram("pcnet_error_first_nonzero_step",
			"Inference step at which a hidden node's error first became non-zero, one observation per node per inference (Theorem 1: exactly the node's distance from the output).",
			steps, labelVariant, labelDistance),
		convergence: b.histogram("pcnet_error_convergence_step",
			"Inference step after which a hidden node's error changed by no more than the relative convergence tolerance until the end of inference, one observation per node per inference that converged.",
			steps, labelVariant, labelDistance),
		unreached: b.counter("pcnet_error_unreached_total",
			"Inferences in which a hidden node's error stayed exactly zero to the last step (fewer steps than the node's distance).",
			labelVariant, labelDistance),
		unconverged: b.counter("pcnet_error_unconverged_total",
			"Inferences in which a hidden node's error still changed by more than the relative convergence tolerance at the last step.",
			labelVariant, labelDistance),

		inferences: b.counter("pcnet_inferences_total",
			"Batches inferred (Infer or Learn); each computes one weight update of every layer.",
			labelVariant),
		updates: b.counter("pcnet_weight_updates_total",
			"Batches whose weight updates were applied (Learn).",
			labelVariant),
		steps: b.counter("pcnet_inference_steps_total",
			"Inference steps run, T per batch.",
			labelVariant),
		vjps: b.counter("pcnet_vjps_total",
			"Vector-Jacobian products of all layers (input VJPs during inference, weight VJPs for the update): outcome=\"computed\", or \"skipped\" where the event schedule knew the result exactly (zero, or the last product's) and the dense schedule computes it; backprop computes 2*pcnet_network_hidden_layers + 1 per update.",
			labelVariant, labelOutcome),
		messages: b.counter("pcnet_messages_total",
			"Messages sent between neighbouring nodes (predictions up, errors down), by payload: full, or zero and unchanged, which the event schedule sends without a payload.",
			labelVariant, labelDirection, labelPayload),
		messageBytes: b.counter("pcnet_message_bytes_total",
			"Payload bytes of the messages sent between neighbouring nodes (only full messages carry any).",
			labelVariant, labelDirection, labelPayload),
		compute: b.counter("pcnet_node_compute_seconds_total",
			"Seconds a node spent in its own arithmetic (layer = node index 0..H+1; the sequential engine books the whole batch on the output node).",
			labelVariant, labelLayer),
		wait: b.counter("pcnet_node_wait_seconds_total",
			"Seconds a node spent blocked on its neighbours (layer = node index 0..H+1; zero in the sequential engine).",
			labelVariant, labelLayer),
		hidden: b.gauge("pcnet_network_hidden_layers",
			"Hidden layers H of the observed network of the variant built last; backprop computes 2H+1 VJPs per update (H input, H+1 weight).",
			labelVariant),
		batchLoss: b.gauge("pcnet_batch_loss",
			"Loss of the last batch at the feed-forward values.",
			labelVariant),
		energy: b.gauge("pcnet_batch_energy",
			"Energy F = sum over hidden nodes of pi_l/2 ||e_l||^2 plus the loss at the current prediction, of the last batch at its first (step=\"first\", t = 0: the feed-forward loss) and last (step=\"last\", t = T) inference step.",
			labelVariant, labelStep),
		energyDrop: b.gauge("pcnet_batch_energy_drop_per_step",
			"(F(0) - F(T)) / T of the last batch: how much each inference step lowered the energy on average (negative if it rose; 0 when T = 0).",
			labelVariant),

		loss: b.gauge("pcnet_train_loss",
			"Loss reported by the trainer, by split.",
			labelSplit),
		accuracy: b.gauge("pcnet_train_accuracy_ratio",
			"Classification accuracy reported by the trainer, by split, in [0, 1].",
			labelSplit),
		cosine: b.gauge("pcnet_update_bp_cosine_ratio",
			"Cosine similarity in [-1, 1] of the PC weight update to backprop's, per weight layer, and over all layers concatenated as layer=\"all\"; set when the trainer computes it.",
			labelVariant, labelLayer),
		ratio: b.gauge("pcnet_update_bp_norm_ratio",
			"Norm of the PC weight update over the norm of backprop's (||PC|| / ||BP||), per weight layer, and over all layers as layer=\"all\": which layers learn, and how much; 0 for a layer whose update is zero; set when the trainer computes it.",
			labelVariant, labelLayer),
	}
	m.epoch = prometheus.NewGauge(prometheus.GaugeOpts{Name: "pcnet_train_epoch", Help: "Training epochs completed."})
	m.samples = prometheus.NewCounter(prometheus.CounterOpts{Name: "pcnet_train_samples_total", Help: "Training examples learned from."})
	b.add("pcnet_train_epoch", m.epoch)
	b.add("pcnet_train_samples_total", m.samples)
	m.links = newLinkTraffic()
	b.add(linkLatencyName+", "+linkWireBytesName, m.links)
	// Registered always, so that the set of collectors does not depend on the options; a
	// series only when there is a precision to say.
	info := b.gauge(runInfoName, "Always 1; its label precision is the run's element type: f32 (float32) or f64 (float64).", labelPrecision)
	if opts.Precision != "" {
		info.WithLabelValues(opts.Precision).Set(1)
	}
	for i, r := range b {
		if err := reg.Register(r.c); err != nil {
			for _, done := range b[:i] { // leave reg as it was
				reg.Unregister(done.c)
			}
			return nil, fmt.Errorf("metrics: register %s: %w (one metrics.Metrics per registry)", r.name, err)
		}
	}
	if !opts.SkipGoAndProcessCollectors {
		for _, c := range []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
				return nil, fmt.Errorf("metrics: register the Go and process collectors: %w", err)
			}
		}
	}
	return m, nil
}

// variant returns the children of variant v, binding them on first use.
func (m *Metrics) variant(v pcnet.Variant) *variantMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	vm, ok := m.variants[v]
	if !ok {
		s := v.String()
		vm = &variantMetrics{
			inferences:   m.inferences.WithLabelValues(s),
			updates:      m.updates.WithLabelValues(s),
			steps:        m.steps.WithLabelValues(s),
			loss:         m.batchLoss.WithLabelValues(s),
			energyFirst:  m.energy.WithLabelValues(s, "first"),
			energyLast:   m.energy.WithLabelValues(s, "last"),
			energyDrop:   m.energyDrop.WithLabelValues(s),
			vjpsComputed: m.vjps.WithLabelValues(s, "computed"),
			vjpsSkipped:  m.vjps.WithLabelValues(s, "skipped"),
			hidden:       m.hidden.WithLabelValues(s),
		}
		for _, p := range channels.Payloads() {
			vm.messagesUp[p] = m.messages.WithLabelValues(s, "up", p.String())
			vm.messagesDown[p] = m.messages.WithLabelValues(s, "down", p.String())
			vm.bytesUp[p] = m.messageBytes.WithLabelValues(s, "up", p.String())
			vm.bytesDown[p] = m.messageBytes.WithLabelValues(s, "down", p.String())
		}
		m.variants[v] = vm
	}
	return vm
}

// SetLoss records the loss of split (SplitTrain, SplitValidation or SplitTest).
func (m *Metrics) SetLoss(split string, loss float64) error {
	if err := checkSplit(split); err != nil {
		return fmt.Errorf("metrics: SetLoss: %w", err)
	}
	m.loss.WithLabelValues(split).Set(loss)
	return nil
}

// SetAccuracy records the accuracy of split as a ratio in [0, 1] (NaN is allowed, for
// "not measured"); a percentage is an error.
func (m *Metrics) SetAccuracy(split string, accuracy float64) error {
	if err := checkSplit(split); err != nil {
		return fmt.Errorf("metrics: SetAccuracy: %w", err)
	}
	if accuracy < 0 || accuracy > 1 {
		return fmt.Errorf("metrics: SetAccuracy(%q, %v): accuracy is a ratio in [0, 1]", split, accuracy)
	}
	m.accuracy.WithLabelValues(split).Set(accuracy)
	return nil
}

// SetEpoch records the number of training epochs completed.
func (m *Metrics) SetEpoch(epochs int) { m.epoch.Set(float64(epochs)) }

// AddSamples counts n more training examples learned from (n >= 0).
func (m *Metrics) AddSamples(n int) error {
	if n < 0 {
		return fmt.Errorf("metrics: AddSamples(%d): a count of examples cannot be negative", n)
	}
	m.samples.Add(float64(n))
	return nil
}

// SetNormRatio records ||PC update|| / ||BP update|| of variant for weight layer l (0..H)
// or, with l = AllLayers, over all layers concatenated: 0 where the update is zero (the
// layer does not learn from the batch, docs/design.md §11). NaN (backprop's update of
// zero norm) is recorded as it is; a negative ratio is an error.
func (m *Metrics) SetNormRatio(variant pcnet.Variant, l int, ratio float64) error {
	layer, err := layerLabel("SetNormRatio", variant, l)
	if err != nil {
		return err
	}
	if ratio < 0 {
		return fmt.Errorf("metrics: SetNormRatio(%s, layer %d, %v): a ratio of norms is >= 0", variant, l, ratio)
	}
	m.ratio.WithLabelValues(variant.String(), layer).Set(ratio)
	return nil
}

// layerLabel checks a variant and a weight layer (or AllLayers) and returns the layer's
// label.
func layerLabel(op string, variant pcnet.Variant, l int) (string, error) {
	if _, err := pcnet.ParseVariant(variant.String()); err != nil {
		return "", fmt.Errorf("metrics: %s: %w", op, err)
	}
	if l < AllLayers || l > maxLayer {
		return "", fmt.Errorf("metrics: %s: layer %d: want a weight layer 0..%d or AllLayers", op, l, maxLayer)
	}
	if l == AllLayers {
		return "all", nil
	}
	return strconv.Itoa(l), nil
}

// SetCosine records the cosine similarity of variant's weight update to backprop's, for
// weight layer l (0..H) or, with l = AllLayers, over all layers concatenated (weights and
// biases). NaN (an update of zero norm) is recorded as it is.
func (m *Metrics) SetCosine(variant pcnet.Variant, l int, cosine float64) error {
	layer, err := layerLabel("SetCosine", variant, l)
	if err != nil {
		return err
	}
	if cosine < -1-1e-9 || cosine > 1+1e-9 {
		return fmt.Errorf("metrics: SetCosine(%s, layer %d, %v): a cosine lies in [-1, 1]", variant, l, cosine)
	}
	m.cosine.WithLabelValues(variant.String(), layer).Set(cosine)
	return nil
}

func checkSplit(split string) error {
	switch split {
	case SplitTrain, SplitValidation, SplitTest:
		return nil
	}
	return fmt.Errorf("split %q: want %q, %q or %q", split, SplitTrain, SplitValidation, SplitTest)
}

// builder makes collectors and remembers them with their names, for registration and
// its errors.
type builder []registration

type registration struct {
	name string
	c    prometheus.Collector
}

func (b *builder) add(name string, c prometheus.Collector) { *b = append(*b, registration{name, c}) }

func (b *builder) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	b.add(name, v)
	return v
}

func (b *builder) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	b.add(name, v)
	return v
}

func (b *builder) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	b.add(name, v)
	return v
}
