package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/train"
)

type evalFlags struct {
	fs         *flag.FlagSet
	checkpoint string
	split      string
	data       string
	dataset    string
	json       bool
}

func newEvalFlags() *evalFlags {
	f := &evalFlags{fs: flag.NewFlagSet("eval", flag.ContinueOnError)}
	f.fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file` to evaluate (required)")
	f.fs.StringVar(&f.split, "split", "test", "`split`: train (55000 images), validation (5000) or test (10000)")
	f.fs.StringVar(&f.data, "data", "", dataDirUsage)
	f.fs.StringVar(&f.dataset, "dataset", "", datasetUsage+" (empty: the checkpoint's)")
	f.fs.BoolVar(&f.json, "json", false, "print one JSON object instead of a line")
	return f
}

const evalDetails = `The loss is the checkpoint's own (nll or mse), averaged over the split. With -json the
output is one object:

  {"checkpoint": FILE, "variant": "fpa", "sizes": [784, 64, ..., 10], "activation": "tanh",
   "epoch": 3, "batch_index": 0, "split": "test", "examples": 10000, "correct": 9680,
   "loss": 0.105, "accuracy": 0.968}

(epoch and batch_index: where the checkpoint's run stood; accuracy is a ratio in [0, 1]).
`

type evalResult struct {
	Checkpoint string  `json:"checkpoint"`
	Variant    string  `json:"variant"`
	Sizes      []int   `json:"sizes"`
	Activation string  `json:"activation"`
	Epoch      int     `json:"epoch"`
	BatchIndex int     `json:"batch_index"`
	Split      string  `json:"split"`
	Examples   int     `json:"examples"`
	Correct    int     `json:"correct"`
	Loss       float64 `json:"loss"`
	Accuracy   float64 `json:"accuracy"`
}

func runEval(_ context.Context, args []string, stdout, _ io.Writer) error {
	f := newEvalFlags()
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return err
	}
	if f.checkpoint == "" {
		return usagef("-checkpoint: required (the checkpoint file to evaluate)")
	}
	if err := checkSplitName(f.split); err != nil {
		return err
	}
	ck, err := checkpoint.Load(f.checkpoint)
	if err != nil {
		return fmt.Errorf("-checkpoint: %w", err)
	}
	run := &ck.Run
	if run.Sizes[0] != mnist.Pixels || run.Sizes[len(run.Sizes)-1] != mnist.Classes {
		return fmt.Errorf("-checkpoint: %s is a %s network, not one for MNIST (%d inputs, %d classes)",
			f.checkpoint, describeNet(run.Sizes, run.Activation), mnist.Pixels, mnist.Classes)
	}
	dataset := run.Data.Dataset
	if f.dataset != "" {
		if dataset, err = datasetOf(f.dataset); err != nil {
			return err
		}
	}
	data, err := loadData(dataset, f.data)
	if err != nil {
		return err
	}
	d, _ := splitOf(data, f.split)
	l, acc, err := train.Evaluate(ck.Layers, run.LossFunc(), d)
	if err != nil {
		return err
	}
	r := evalResult{
		Checkpoint: f.checkpoint, Variant: run.Algorithm.String(), Sizes: run.Sizes, Activation: run.Activation.String(),
		Epoch: ck.Position.Epoch, BatchIndex: ck.Position.Batch,
		Split: f.split, Examples: d.Len(), Correct: int(acc*float64(d.Len()) + 0.5), Loss: l, Accuracy: acc,
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "%s: loss %.4f  accuracy %.2f%% (%d/%d); checkpoint %s (%s, %s, epoch %d, batch %d)\n",
		r.Split, r.Loss, 100*r.Accuracy, r.Correct, r.Examples, f.checkpoint, run.Algorithm,
		describeNet(run.Sizes, run.Activation), ck.Position.Epoch, ck.Position.Batch)
	return nil
}
