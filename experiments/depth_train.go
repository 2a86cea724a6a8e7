package experiments

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// The depth experiment trains §11's networks (docs/design.md §11): μPC's residual
// pre-activation network, the same network under the standard parameterisation, and the
// plain chain of the same maps, by PC and by backprop. This file is its training loop.

// The normalisation of jpc's μPC notebook: torchvision's MNIST mean and standard deviation,
// applied to every pixel in [0, 1]. The first map has no bias, so a shift of the input
// cannot be folded into the weights: the loop applies it to every batch.
const (
	jpcPixelMean = 0.1307
	jpcPixelStd  = 0.3081
)

// depthMethod is one way of building and training a network of the depth experiment.
type depthMethod string

const (
	methodBP    depthMethod = "bp"       // backprop on the μPC-parameterised residual network (Depth-μP)
	methodMuPC  depthMethod = "mupc"     // standard PC on the μPC-parameterised residual network
	methodSPRes depthMethod = "pc-res"   // standard PC on the residual network, standard parameterisation
	methodChain depthMethod = "pc-chain" // standard PC on the plain chain of the same maps, standard parameterisation
)

// depthMethods in the order the tables show them.
var depthMethods = []depthMethod{methodBP, methodMuPC, methodSPRes, methodChain}

func (m depthMethod) residual() bool { return m != methodChain }
func (m depthMethod) param() layer.Param {
	if m == methodBP || m == methodMuPC {
		return layer.MuPC
	}
	return layer.Standard
}
func (m depthMethod) isPC() bool { return m != methodBP }

// depthSpec is everything one trained network of the depth experiment depends on; it is
// the key of its cache file.
type depthSpec struct {
	Version      int         `json:"version"`
	Method       depthMethod `json:"method"`
	Dataset      string      `json:"dataset"`
	Hidden       int         `json:"hidden"`
	Width        int         `json:"width"`
	Batch        int         `json:"batch"`
	Eta          float64     `json:"eta"`   // activity step on the batch mean (jpc's activity_lr)
	Steps        int         `json:"steps"` // T
	LR           float64     `json:"lr"`    // Adam's
	Seed         uint64      `json:"seed"`
	Iters        int         `json:"iters"`         // weight updates
	TestEvery    int         `json:"test_every"`    // test accuracy after every so many updates (0: at the end only)
	CompareEvery int         `json:"compare_every"` // compare with BP on every so many batches (0: never)
	TrainN       int         `json:"train_n"`
	TestN        int         `json:"test_n"`
}

// depthPoint is one test-accuracy measurement along training.
type depthPoint struct {
	Iter     int `json:"iter"`
	Accuracy num `json:"accuracy"`
}

// depthResult is what one trained network measured; it is cached as JSON.
type depthResult struct {
	Spec depthSpec    `json:"spec"`
	Test []depthPoint `json:"test"`
	// NormRatio is, per weight layer 0..H, the mean over the compared batches of
	// |PC update| / |BP update| at the same weights and batch; Zero counts per layer the
	// compared batches on which its update was exactly zero, Compared the batches.
	NormRatio []num `json:"norm_ratio,omitempty"`
	Zero      []int `json:"zero,omitempty"`
	Compared  int   `json:"compared,omitempty"`
	// FirstNonzero is, per node 0..H+1, the first step at which its error was non-zero on
	// the first batch (graph.Never when it never was in T steps), and Rule graph.Eta of
	// the node: what the graph-distance rule predicts.
	FirstNonzero []int   `json:"first_nonzero,omitempty"`
	Rule         []int   `json:"rule,omitempty"`
	Diverged     string  `json:"diverged,omitempty"`
	Seconds      float64 `json:"seconds"`
}

// last is the final test accuracy (NaN when there is none).
func (r *depthResult) last() float64 {
	if len(r.Test) == 0 {
		return math.NaN()
	}
	return float64(r.Test[len(r.Test)-1].Accuracy)
}

// depthGraph is the graph of a method's network of h hidden layers of width n.
func depthGraph(m depthMethod, h, n int) (*graph.Graph, []int, error) {
	widths := make([]int, 0, h+2)
	widths = append(widths, mnist.Pixels)
	for range h {
		widths = append(widths, n)
	}
	widths = append(widths, mnist.Classes)
	shape := graph.Chain
	if m.residual() {
		shape = graph.Residual
	}
	g, err := graph.New(widths, shape, nil)
	return g, widths, err
}

// depthMaps draws a network's maps: ReLU, no biases, the method's parameterisation, from a
// generator seeded by (seed, h), so that every method of one seed and depth under the
// same parameterisation starts from the same weights.
func depthMaps(m depthMethod, widths []int, seed uint64) ([]layer.Map[float64], error) {
	rng := rand.New(rand.NewPCG(seed, uint64(len(widths)-2)))
	pre, err := layer.NewPreActNet[float64](widths, layer.ReLU, m.param(), m.residual(), rng)
	if err != nil {
		return nil, err
	}
	return layer.AsMaps(pre), nil
}

// depthRun is the specification of a network of the depth experiment (spec.Run, as the
// command's): PC's standard variant with T steps of gamma = eta/B per sample (the
// activity step eta acts on the batch mean, §11) on the sequential engine, or backprop;
// both with Adam at lr on the raw weights and μPC's per-sample squared error on one-hot
// labels (sse), ReLU, in float64.
func depthRun(s depthSpec, widths []int, sched pcnet.Schedule) *spec.Run {
	r := spec.Default()
	r.Sizes, r.Activation, r.Loss = widths, layer.ReLU, "sse"
	r.Arch, r.Param = graph.Chain, s.Method.param()
	if s.Method.residual() {
		r.Arch = graph.Residual
	}
	r.Algorithm = spec.BP
	if s.Method.isPC() {
		r.Algorithm = spec.FromVariant(pcnet.Standard)
		r.PC.Steps, r.PC.Gamma, r.PC.Engine, r.PC.Schedule = s.Steps, s.Eta/float64(s.Batch), pcnet.Sequential, sched
	}
	r.Optimizer, r.Batch, r.Epochs, r.Seed, r.Precision = optim.DefaultAdam(s.LR), s.Batch, 1, s.Seed, spec.F64
	return &r
}

// updater is a learner that reports its last weight updates: PC's.
type updater interface {
	Updates() []*layer.Grad[float64]
}

// normalise applies jpc's pixel normalisation in place.
func normalise(x *tensor.Matrix[float64]) {
	for i, v := range x.Data {
		x.Data[i] = (v - jpcPixelMean) / jpcPixelStd
	}
}

// depthData is a split read once as a normalised matrix, for the test passes.
type depthData struct {
	x      *tensor.Matrix[float64]
	labels []int
}

func newDepthData(d *mnist.Dataset) depthData {
	x := d.Rows(0, d.Len(), nil)
	normalise(x)
	return depthData{x: x, labels: d.Labels}
}

// depthProgressEvery is how often a network without test passes of its own says how far
// it got: a sweep network at H = 64 takes many minutes on a shared machine.
const depthProgressEvery = 200

// trainDepth trains one network of the depth experiment: s.Iters weight updates on
// batches of the training set in the loader's seeded order (epoch after epoch), the test
// accuracy (a feed-forward pass, as jpc's test_discriminative_pc) every s.TestEvery
// updates and at the end, the updates' norms against backprop's on every
// s.CompareEvery-th batch, and on the first batch the first non-zero step of every
// node's error, with a progress line to log at each test pass and every
// depthProgressEvery updates. A diverged run is a result (Diverged says why), not an error.
func trainDepth(ctx context.Context, s depthSpec, trainSet *mnist.Dataset, test depthData, sched pcnet.Schedule, log *logger) (*depthResult, error) {
	start := time.Now()
	g, widths, err := depthGraph(s.Method, s.Hidden, s.Width)
	if err != nil {
		return nil, err
	}
	maps, err := depthMaps(s.Method, widths, s.Seed)
	if err != nil {
		return nil, err
	}
	rec := &pcnet.Recorder{}
	var obs pcnet.Observer
	if s.Method.isPC() {
		obs = rec
	}
	learner, err := train.New(ctx, depthRun(s, widths, sched), maps, obs)
	if err != nil {
		return nil, err
	}
	defer learner.Close()
	pc, _ := learner.(updater)
	// The reference reads the learner's maps, which move only between batches: the PC
	// nodes own them and are idle outside Learn.
	ref, err := backprop.NewGraph(g, maps, layer.SampleSquaredError{})
	if err != nil {
		return nil, err
	}
	loader, err := mnist.NewLoader(trainSet, s.Batch, true, s.Seed)
	if err != nil {
		return nil, err
	}
	res := &depthResult{Spec: s}
	cmp := newNormSums(len(maps))
	testAt := func(iter int) {
		_, correct := ref.Evaluate(test.x, test.labels, 1000)
		res.Test = append(res.Test, depthPoint{Iter: iter, Accuracy: num(float64(correct) / float64(len(test.labels)))})
	}
	for it := 0; it < s.Iters; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i := it % loader.NumBatches()
		if i == 0 {
			loader.SetEpoch(it / loader.NumBatches())
		}
		x, labels := loader.Batch(i)
		normalise(x)
		var want []*layer.Grad[float64]
		if pc != nil && s.CompareEvery > 0 && it%s.CompareEvery == 0 {
			want = ref.NewGrads()
			ref.Gradients(want, x, labels)
		}
		loss, err := learner.Step(ctx, x, labels)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Diverged = fmt.Sprintf("loss %v at update %d", loss, it+1)
			break
		}
		if want != nil {
			for _, w := range want {
				w.Scale(-1) // BP's update is the negated gradient
			}
			cmp.add(train.Compare(pc.Updates(), want))
		}
		if it == 0 && s.Method.isPC() {
			res.FirstNonzero, res.Rule = firstNonzero(rec, g)
		}
		if s.TestEvery > 0 && (it+1)%s.TestEvery == 0 {
			testAt(it + 1)
			log.printf("  depth %s: %d/%d updates, test %s (%s)", s.label(), it+1, s.Iters,
				render.Percent(res.last()), time.Since(start).Round(time.Second))
		} else if (it+1)%depthProgressEvery == 0 {
			log.printf("  depth %s: %d/%d updates, loss %.4f (%s)", s.label(), it+1, s.Iters, loss, time.Since(start).Round(time.Second))
		}
	}
	if s.TestEvery == 0 || s.Iters%s.TestEvery != 0 || res.Diverged != "" {
		testAt(s.Iters)
	}
	res.NormRatio, res.Zero, res.Compared = cmp.means(), cmp.zero, cmp.n
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// firstNonzero reads a recorder's last batch: per node 0..H+1, the first step at which
// its error was non-zero (graph.Never if never; the input and output nodes hold
// graph.Never and 0), and what graph.Eta predicts.
func firstNonzero(rec *pcnet.Recorder, g *graph.Graph) (got, rule []int) {
	n := g.H() + 2
	got, rule = make([]int, n), make([]int, n)
	for v := range n {
		got[v], rule[v] = graph.Never, graph.Never
		if v > 0 {
			rule[v] = g.Eta(v)
		}
	}
	got[n-1] = 0
	for _, r := range rec.Nodes() {
		if r.Node < 1 || r.Node > g.H() {
			continue
		}
		got[r.Node], _ = arrival(r.Steps, convergenceTol)
	}
	return got, rule
}

// normSums accumulates per weight layer the norm ratio of PC's update to BP's and the
// batches on which the update was exactly zero.
type normSums struct {
	sum  []float64
	zero []int
	n    int
}

func newNormSums(layers int) *normSums {
	return &normSums{sum: make([]float64, layers), zero: make([]int, layers)}
}

func (s *normSums) add(c train.Comparison) {
	s.n++
	for l, a := range c.Layers {
		s.sum[l] += a.NormRatio()
		if a.NormGot == 0 {
			s.zero[l]++
		}
	}
}

func (s *normSums) means() []num {
	if s.n == 0 {
		return nil
	}
	out := make([]num, len(s.sum))
	for l, v := range s.sum {
		out[l] = num(v / float64(s.n))
	}
	return out
}
