package train

import (
	"context"
	"errors"
	"fmt"
	"github.com/pcnet/pcnet/pcnet"
	"math"
	"time"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// ErrDiverged is returned when the training loss becomes NaN or infinite.
var ErrDiverged = errors.New("training diverged")

// Options configure Run.
type Options struct {
	Epochs int
	Batch  int
	// Seed drives the shuffling: the order of epoch e is a function of (Seed, e) alone.
	Seed uint64
	// Loss is the loss the learner minimises (for evaluation and the BP comparison);
	// nil means layer.NLL.
	Loss layer.Loss
	// CosineEvery > 0 compares every n-th PC update with BP's (see the package docs).
	CosineEvery int
	// MaxTrain > 0 uses only the first MaxTrain training examples.
	MaxTrain int
}

// Position is where a run stands: the next batch to learn from. It is what a checkpoint
// stores to resume exactly.
type Position struct {
	Epoch   int   // 0-based
	Batch   int   // 0-based index in the epoch's shuffled order
	Samples int64 // training examples seen so far
}

// BatchInfo describes a finished batch.
type BatchInfo struct {
	Next    Position // where the run stands after this batch
	Batches int      // batches per epoch
	Loss    float64
	// Compared is set when the update was compared with BP's on this batch.
	Compared *Comparison
	Step     time.Duration // the learner's step
	BP       time.Duration // a whole BP step for the comparison (0 if none): see comparer

}

// EpochInfo describes a finished epoch, after validation.
type EpochInfo struct {
	Epoch       int      // 0-based
	Next        Position // the start of the next epoch
	TrainLoss   float64  // mean over the epoch's batches (those run in this process)
	ValLoss     float64
	ValAccuracy float64
	// MeanCosine is the mean of the cosines computed in the epoch (NaN when none) and
	// MeanLayerCosine the same per layer.
	MeanCosine      float64
	MeanLayerCosine []float64
	Duration        time.Duration // wall time of the epoch's batches and validation
	StepTime        time.Duration // the learner's steps
	BPTime          time.Duration // whole BP steps on the compared batches (see comparer)
	Compared        int           // batches compared with BP
}

// Hooks are called from Run's goroutine.
type Hooks struct {
	Batch func(BatchInfo)
	// Epoch is called after every epoch; an error stops the run (e.g. a failed checkpoint).
	Epoch func(EpochInfo) error
}

// Run trains learner on data.Train from position from to the end of opts.Epochs, with
// validation on data.Validation after each epoch. It returns the position reached. When
// ctx is cancelled it stops between batches and returns ctx's error with the position to
// resume from.
func Run[T tensor.Float](ctx context.Context, learner Learner[T], data *mnist.Splits, opts Options, from Position, hooks Hooks) (Position, error) {
	if opts.Loss == nil {
		opts.Loss = layer.NLL{}
	}
	trainSet := data.Train
	if opts.MaxTrain > 0 {
		trainSet = trainSet.Head(opts.MaxTrain)
	}
	loader, err := mnist.NewLoader(trainSet, opts.Batch, true, opts.Seed)
	if err != nil {
		return from, err
	}
	nb := loader.NumBatches()
	// Images stay bytes: each batch is converted into T in this one buffer.
	buf := tensor.New[T](min(opts.Batch, trainSet.Len()), trainSet.Dim(), nil)
	if from.Batch < 0 || from.Batch > nb || from.Epoch < 0 {
		return from, fmt.Errorf("resume position epoch %d batch %d is outside the %d batches of an epoch", from.Epoch+1, from.Batch, nb)
	}
	var cmp *comparer[T]
	if rep, ok := learner.(UpdateReporter[T]); ok && opts.CosineEvery > 0 {
		cmp, err = newComparer[T](learner.Graph(), learner.Maps(), learner.Optimizers(), opts.Loss, rep)
		if err != nil {
			return from, err
		}
	}
	pos := from
	// Learner steps are not cancelled from the outside: see the package docs.
	stepCtx := context.WithoutCancel(ctx)
	for pos.Epoch < opts.Epochs {
		loader.SetEpoch(pos.Epoch)
		start := time.Now()
		ep := EpochInfo{Epoch: pos.Epoch}
		var lossSum float64
		var n int
		var cosSum float64
		var layerCos []float64
		for pos.Batch < nb {
			if err := ctx.Err(); err != nil {
				return pos, err
			}
			x, labels := mnist.BatchInto(loader, pos.Batch, buf)
			info := BatchInfo{Batches: nb}
			if cmp != nil && (pos.Batch%opts.CosineEvery == 0) {
				info.BP = cmp.before(x, labels)
			}
			t0 := time.Now()
			loss, err := learner.Step(stepCtx, x, labels)
			info.Step = time.Since(t0)
			if errors.Is(err, pcnet.ErrNonFinite) {
				return pos, fmt.Errorf("%w: %v at epoch %d, batch %d", ErrDiverged, err, pos.Epoch+1, pos.Batch)
			}
			if err != nil {
				return pos, err
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return pos, fmt.Errorf("%w: loss is %v at epoch %d, batch %d", ErrDiverged, loss, pos.Epoch+1, pos.Batch)
			}
			if info.BP > 0 {
				c := cmp.after()
				info.Compared = &c
				ep.Compared++
				ep.BPTime += info.BP
				cosSum += c.All.Cosine
				if layerCos == nil {
					layerCos = make([]float64, len(c.Layers))
				}
				for l, a := range c.Layers {
					layerCos[l] += a.Cosine
				}
			}
			ep.StepTime += info.Step
			lossSum += loss
			n++
			pos.Batch++
			pos.Samples += int64(len(labels))
			info.Loss = loss
			info.Next = pos
			if hooks.Batch != nil {
				hooks.Batch(info)
			}
		}
		pos = Position{Epoch: pos.Epoch + 1, Samples: pos.Samples}
		ep.Next = pos
		ep.TrainLoss = math.NaN()
		if n > 0 {
			ep.TrainLoss = lossSum / float64(n)
		}
		ep.MeanCosine = math.NaN()
		if ep.Compared > 0 {
			ep.MeanCosine = cosSum / float64(ep.Compared)
			for l := range layerCos {
				layerCos[l] /= float64(ep.Compared)
			}
			ep.MeanLayerCosine = layerCos
		}
		if err := Sync(stepCtx, learner); err != nil {
			return pos, err
		}
		ep.ValLoss, ep.ValAccuracy, err = EvaluateMaps(learner.Graph(), learner.Maps(), opts.Loss, data.Validation)
		if err != nil {
			return pos, err
		}
		ep.Duration = time.Since(start)
		if hooks.Epoch != nil {
			if err := hooks.Epoch(ep); err != nil {
				return pos, err
			}
		}
	}
	return pos, nil
}

// Evaluate returns the mean loss and the accuracy (in [0, 1]) of the network made of
// layers on d, computed in T, the network's precision (never a float64 copy of a float32
// network).
func Evaluate[T tensor.Float](layers []*layer.Dense[T], loss layer.Loss, d *mnist.Dataset) (float64, float64, error) {
	g, err := chainOf(layers)
	if err != nil {
		return 0, 0, err
	}
	return EvaluateMaps(g, layer.AsMaps(layers), loss, d)
}

// EvaluateMaps is Evaluate for the network of maps on the layer graph g (a learner's
// Graph and Maps), computed as backprop computes it: on a chain of dense layers the
// numbers Evaluate returns, bit for bit.
func EvaluateMaps[T tensor.Float](g *graph.Graph, maps []layer.Map[T], loss layer.Loss, d *mnist.Dataset) (float64, float64, error) {
	if d == nil || d.Len() == 0 {
		return math.NaN(), math.NaN(), nil
	}
	net, err := newBPNet(g, maps, loss)
	if err != nil {
		return 0, 0, err
	}
	// backprop.Net.Evaluate's loop, on chunks converted one at a time into one buffer, so
	// that the images stay bytes: the same sums in the same order.
	const chunk = 1000
	n := d.Len()
	buf := tensor.New[T](min(chunk, n), d.Dim(), nil)
	var sum float64
	var correct int
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		x := mnist.RowsInto(d, i, i+m, buf.SliceRows(0, m))
		z := net.Forward(x)
		sum += layer.LossValue(loss, z, d.Labels[i:i+m]) * float64(m)
		correct += layer.Correct(z, d.Labels[i:i+m])
	}
	return sum / float64(n), float64(correct) / float64(n), nil
}

// comparer computes BP's update on the learner's weights before a step and compares the
// learner's update with it after.
//
// Its time is a whole BP step, the optimiser's included, so that it compares like with
// like with the learner's step, which includes its own: the optimiser steps a scratch
// copy of the weights (copied outside the clock) with states of the learner's
// configuration, whose cost does not depend on their values.
type comparer[T tensor.Float] struct {
	bp      bpNet[T]
	maps    []layer.Map[T]
	grads   []*layer.Grad[T]
	scratch [][2][]T
	opt     [][2]*optim.State[T]
	report  UpdateReporter[T]
}

func newComparer[T tensor.Float](g *graph.Graph, maps []layer.Map[T], opts [][2]*optim.State[T], loss layer.Loss, rep UpdateReporter[T]) (*comparer[T], error) {
	bp, err := newBPNet(g, maps, loss)
	if err != nil {
		return nil, err
	}
	if len(opts) != len(maps) {
		return nil, fmt.Errorf("the learner has %d optimiser states for %d layers", len(opts), len(maps))
	}
	c := &comparer[T]{bp: bp, maps: maps, report: rep}
	for l, m := range maps {
		c.grads = append(c.grads, layer.GradFor(m))
		p := m.Params()
		var sc [2][]T
		var st [2]*optim.State[T]
		for k := range p {
			sc[k] = make([]T, len(p[k]))
			st[k] = optim.NewState[T](opts[l][k].Config(), len(p[k]))
		}
		c.scratch, c.opt = append(c.scratch, sc), append(c.opt, st)
	}
	return c, nil
}

func (c *comparer[T]) before(x *tensor.Matrix[T], labels []int) time.Duration {
	for l, m := range c.maps {
		for k, p := range m.Params() {
			copy(c.scratch[l][k], p)
		}
	}
	t0 := time.Now()
	c.bp.Gradients(c.grads, x, labels)
	for l, g := range c.grads {
		for k, gp := range g.Params() {
			c.opt[l][k].Step(c.scratch[l][k], gp)
		}
	}
	d := time.Since(t0)
	for _, g := range c.grads {
		g.Scale(-1) // BP's update in PC's sign
	}
	return max(d, 1)
}

func (c *comparer[T]) after() Comparison { return Compare(c.report.Updates(), c.grads) }
