// Package session runs the life of one training run of a specification, as pcnet train
// runs it: train.Run's loop with the run's metrics (package metrics) kept up to date, a
// checkpoint written before the first batch and after every epoch, an EpochSummary per
// epoch (whose String is the epoch's line) and the test split evaluated at the end. It
// is a package of its own so that package train, and what builds on it without a
// command (the experiments), links no Prometheus client.
package session

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pcnet/pcnet/internal/render"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// Saver writes a checkpoint of a learner at a position; checkpoint.Writer is one.
type Saver[T tensor.Float] interface {
	Save(ctx context.Context, l train.Learner[T], pos train.Position) error
}

// Session is the life of one training run of a specification: train.Run's loop with the
// run's metrics kept up to date, a checkpoint written before the first batch and after
// every epoch, and the test split evaluated at the end. T is the run's precision.
type Session[T tensor.Float] struct {
	Run     *spec.Run
	Learner train.Learner[T]
	// Metrics (nil: none) receives the losses, accuracies, cosines and samples; for a
	// PC run its convergence summary goes into every EpochSummary.
	Metrics *metrics.Metrics
	// Saver (nil: none) writes the checkpoints.
	Saver Saver[T]
	// CosineEvery > 0 compares every n-th PC update with BP's (train.Options.CosineEvery).
	CosineEvery int
	// OnBatch and OnEpoch (nil: none) see every batch and every epoch; OnEpoch is
	// called before the epoch's checkpoint is written.
	OnBatch func(train.BatchInfo)
	OnEpoch func(EpochSummary)
	// Log (nil: none) gets a record of every epoch, after its checkpoint is written, so
	// that every logged epoch is one a resumed run does not repeat.
	Log *EpochLog
	// Energy (nil: none) is the observer the learner reports to, when it tallies the
	// energies that Log's records give.
	Energy *EnergyTally

	samples int64 // training examples counted in the metrics
}

// EpochSummary is what a finished epoch reports: train.Run's EpochInfo and, for a PC run with
// metrics, the steps at which each distance's error first moved and converged.
type EpochSummary struct {
	train.EpochInfo
	Epochs      int
	Algorithm   spec.Algorithm
	Engine      string // PC's engine, which the time note names
	Convergence metrics.Summary
}

// Result is a finished run: where it stands and its test loss and accuracy.
type Result struct {
	Position     train.Position
	TestLoss     float64
	TestAccuracy float64
}

// Save writes the checkpoint at pos, if the session has a Saver.
func (s *Session[T]) Save(ctx context.Context, pos train.Position) error {
	if s.Saver == nil {
		return nil
	}
	return s.Saver.Save(ctx, s.Learner, pos)
}

// Train writes the checkpoint at from, trains from there to the end of Run.Epochs and
// evaluates the test split. On an error (train.ErrDiverged, ctx's when interrupted) it returns
// the position to resume from in Result.Position; the caller decides whether to save it.
func (s *Session[T]) Train(ctx context.Context, data *mnist.Splits, from train.Position) (Result, error) {
	r := s.Run
	s.samples = from.Samples
	if err := s.Save(ctx, from); err != nil {
		return Result{Position: from}, err
	}
	opts := train.Options{Epochs: r.Epochs, Batch: r.Batch, Seed: r.Seed, Loss: r.LossFunc(), MaxTrain: r.Data.MaxTrain}
	if r.Algorithm.IsPC() {
		opts.CosineEvery = s.CosineEvery
	}
	hooks := train.Hooks{Batch: s.batch, Epoch: func(e train.EpochInfo) error { return s.epoch(ctx, e) }}
	pos, err := train.Run(ctx, s.Learner, data, opts, from, hooks)
	res := Result{Position: pos}
	if err != nil {
		return res, err
	}
	if res.TestLoss, res.TestAccuracy, err = train.EvaluateMaps(s.Learner.Graph(), s.Learner.Maps(), r.LossFunc(), data.Test); err != nil {
		return res, err
	}
	if m := s.Metrics; m != nil {
		_ = m.SetLoss(metrics.SplitTest, res.TestLoss)
		_ = m.SetAccuracy(metrics.SplitTest, res.TestAccuracy)
	}
	return res, nil
}

func (s *Session[T]) batch(b train.BatchInfo) {
	if s.OnBatch != nil {
		s.OnBatch(b)
	}
	m := s.Metrics
	if m == nil {
		return
	}
	if v, ok := s.Run.Algorithm.Variant(); ok && b.Compared != nil {
		// SetCosine fails only for a layer index or cosine out of range, which Compare
		// does not produce.
		_ = m.SetCosine(v, metrics.AllLayers, b.Compared.All.Cosine)
		_ = m.SetNormRatio(v, metrics.AllLayers, b.Compared.All.NormRatio())
		for l, a := range b.Compared.Layers {
			_ = m.SetCosine(v, l, a.Cosine)
			_ = m.SetNormRatio(v, l, a.NormRatio())
		}
	}
	_ = m.AddSamples(int(b.Next.Samples - s.samples))
	s.samples = b.Next.Samples
}

func (s *Session[T]) epoch(ctx context.Context, e train.EpochInfo) error {
	sum := EpochSummary{EpochInfo: e, Epochs: s.Run.Epochs, Algorithm: s.Run.Algorithm, Engine: s.Run.PC.Engine.String()}
	if m := s.Metrics; m != nil {
		m.SetEpoch(e.Epoch + 1)
		_ = m.SetLoss(metrics.SplitTrain, e.TrainLoss)
		_ = m.SetLoss(metrics.SplitValidation, e.ValLoss)
		_ = m.SetAccuracy(metrics.SplitValidation, e.ValAccuracy)
		if s.Run.Algorithm.IsPC() {
			sum.Convergence = m.Summary()
		}
	}
	if s.OnEpoch != nil {
		s.OnEpoch(sum)
	}
	if err := s.Save(ctx, e.Next); err != nil {
		return err
	}
	return s.Log.Write(NewEpochRecord(e, s.Run, sum.Convergence, s.Energy))
}

// String is the epoch's line: loss, validation accuracy and, for PC, the cosine to BP,
// the first-nonzero and convergence steps by distance and the step times.
func (e EpochSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d  loss %.4f  val acc %.2f%%", e.Epoch+1, e.Epochs, e.TrainLoss, 100*e.ValAccuracy)
	v, isPC := e.Algorithm.Variant()
	if isPC {
		if e.Compared > 0 {
			fmt.Fprintf(&b, "  cos(PC,BP) %.6f%s", e.MeanCosine, train.CosineNote(e.EpochInfo))
		}
		var first, conv, unconv []string
		for _, r := range e.Convergence {
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
	fmt.Fprintf(&b, "  time %s", train.Seconds(e.Duration))
	if isPC {
		fmt.Fprintf(&b, " (%s)", train.TimeNote(e.EpochInfo, e.Engine))
	}
	return b.String()
}

func formatStep(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Describe is the line that introduces a run of r on examples training images, resumed
// at from (the zero Position: a fresh start).
func Describe(r *spec.Run, examples int, from train.Position) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var b strings.Builder
	fmt.Fprintf(&b, "train %s on %s", r.Algorithm, r.Net())
	if r.Algorithm.IsPC() {
		fmt.Fprintf(&b, ", T %d, gamma %s", r.PC.Steps, f(r.PC.Gamma))
		if r.Algorithm == spec.Scaled {
			fmt.Fprintf(&b, ", k %s", f(r.PC.K))
		}
		if r.PC.Precisions != nil {
			ps := make([]string, len(r.PC.Precisions))
			for i, p := range r.PC.Precisions {
				ps[i] = f(p)
			}
			fmt.Fprintf(&b, ", precisions %s", strings.Join(ps, ","))
		}
		fmt.Fprintf(&b, ", %s engine, %s schedule", r.PC.Engine, r.PC.Schedule)
	}
	o := r.Optimizer
	fmt.Fprintf(&b, "; %s lr %s", o.Kind, f(o.LR))
	if o.Kind == optim.SGD && o.Momentum != 0 {
		fmt.Fprintf(&b, " momentum %s", f(o.Momentum))
	}
	fmt.Fprintf(&b, "; %s loss; %s; batch %d, %s, seed %d, %d training images", r.Loss, r.Precision.Type(), r.Batch, render.Plural(r.Epochs, "epoch"), r.Seed, examples)
	if r.Data.Dataset == mnist.Fashion {
		b.WriteString(" of Fashion-MNIST")
	}
	if from != (train.Position{}) {
		fmt.Fprintf(&b, "; resuming at epoch %d, batch %d", from.Epoch+1, from.Batch)
	}
	return b.String()
}
