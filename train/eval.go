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
	Checkpoint string `json:"checkpoint"`
	Variant    string `json:"variant"`
	Sizes      []int  `json:"sizes"`
	Activation string `json:"activation"`
	// Arch, Param and Skips are a layer graph's settings (docs/design.md §11); absent
	// for a chain of dense layers.
	Arch       string  `json:"arch,omitempty"`
	Param      string  `json:"param,omitempty"`
	Skips      string  `json:"skips,omitempty"`
	Precision  string  `json:"precision"` // what the evaluation computed in: "f32" or "f64"
	Epoch      int     `json:"epoch"`
	BatchIndex int     `json:"batch_index"`
	Split      string  `json:"split"`
	Examples   int     `json:"examples"`
	Correct    int     `json:"correct"`
	Loss       float64 `json:"loss"`
	Accuracy   float64 `json:"accuracy"` // in [0, 1]
}

// EvaluateCheckpoint evaluates the network of maps of run (on its layer graph), saved at
// pos in the file path, on d, the split named split, in T, the maps' precision.
func EvaluateCheckpoint[T tensor.Float](path string, run *spec.Run, maps []layer.Map[T], pos Position, split string, d *mnist.Dataset) (*EvalReport, error) {
	g, err := run.Graph()
	if err != nil {
		return nil, err
	}
	loss, acc, err := EvaluateMaps(g, maps, run.LossFunc(), d)
	if err != nil {
		return nil, err
	}
	rep := &EvalReport{
		Checkpoint: path, Variant: run.Algorithm.String(), Sizes: run.Sizes, Activation: run.Activation.String(),
		Precision: spec.PrecisionOf[T]().String(), Epoch: pos.Epoch, BatchIndex: pos.Batch,
		Split: split, Examples: d.Len(), Correct: int(acc*float64(d.Len()) + 0.5), Loss: loss, Accuracy: acc,
	}
	rep.Arch, rep.Param, rep.Skips = GraphNames(run)
	return rep, nil
}

// String is pcnet eval's line.
func (r *EvalReport) String() string {
	act, _ := layer.ParseActivation(r.Activation)
	p, _ := spec.ParsePrecision(r.Precision)
	return fmt.Sprintf("%s: loss %.4f  accuracy %.2f%% (%d/%d) in %s; checkpoint %s (%s, %s%s, epoch %d, batch %d)",
		r.Split, r.Loss, 100*r.Accuracy, r.Correct, r.Examples, p.Type(), r.Checkpoint, r.Variant,
		spec.DescribeNet(r.Sizes, act), graphNote(r.Arch, r.Param, r.Skips), r.Epoch, r.BatchIndex)
}
