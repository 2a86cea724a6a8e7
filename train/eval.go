package train

import (
	"fmt"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
)

// EvalReport is a checkpoint's loss and accuracy on one split; its JSON form is pcnet
// eval -json's output. Epoch and BatchIndex are where the checkpoint's run stood.
type EvalReport struct {
	Checkpoint string  `json:"checkpoint"`
	Variant    string  `json:"variant"`
	Sizes      []int   `json:"sizes"`
	Activation string  `json:"activation"`
	Precision  string  `json:"precision"` // what the evaluation computed in: "f32" or "f64"
	Epoch      int     `json:"epoch"`
	BatchIndex int     `json:"batch_index"`
	Split      string  `json:"split"`
	Examples   int     `json:"examples"`
	Correct    int     `json:"correct"`
	Loss       float64 `json:"loss"`
	Accuracy   float64 `json:"accuracy"` // in [0, 1]
}

// EvaluateCheckpoint evaluates the network layers of run, saved at pos in the file
// path, on d, the split named split, in T, the layers' precision.
func EvaluateCheckpoint[T tensor.Float](path string, run *spec.Run, layers []*layer.Dense[T], pos Position, split string, d *mnist.Dataset) (*EvalReport, error) {
	loss, acc, err := Evaluate(layers, run.LossFunc(), d)
	if err != nil {
		return nil, err
	}
	return &EvalReport{
		Checkpoint: path, Variant: run.Algorithm.String(), Sizes: run.Sizes, Activation: run.Activation.String(),
		Precision: spec.PrecisionOf[T]().String(), Epoch: pos.Epoch, BatchIndex: pos.Batch,
		Split: split, Examples: d.Len(), Correct: int(acc*float64(d.Len()) + 0.5), Loss: loss, Accuracy: acc,
	}, nil
}

// String is pcnet eval's line.
func (r *EvalReport) String() string {
	act, _ := layer.ParseActivation(r.Activation)
	p, _ := spec.ParsePrecision(r.Precision)
	return fmt.Sprintf("%s: loss %.4f  accuracy %.2f%% (%d/%d) in %s; checkpoint %s (%s, %s, epoch %d, batch %d)",
		r.Split, r.Loss, 100*r.Accuracy, r.Correct, r.Examples, p.Type(), r.Checkpoint, r.Variant,
		spec.DescribeNet(r.Sizes, act), r.Epoch, r.BatchIndex)
}
