package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

type evalFlags struct {
	fs         *flag.FlagSet
	checkpoint string
	split      string
	data       string
	dataset    string
	json       bool
	precision  precisionFlag
}

func newEvalFlags() *evalFlags {
	f := &evalFlags{fs: flag.NewFlagSet("eval", flag.ContinueOnError)}
	f.fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint `file` to evaluate (required)")
	f.fs.StringVar(&f.split, "split", "test", "`split`: train (55000 images), validation (5000) or test (10000)")
	f.fs.StringVar(&f.data, "data", "", dataDirUsage)
	f.fs.StringVar(&f.dataset, "dataset", "", datasetUsage+" (empty: the checkpoint's)")
	f.fs.BoolVar(&f.json, "json", false, "print one JSON object instead of a line")
	f.precision.unset = "the checkpoint's"
	registerPrecision(f.fs, &f.precision, spec.F64, "another than the checkpoint's converts its weights (rounded to float32 or widened to float64)")
	return f
}

const evalDetails = `The loss is the checkpoint's own (nll, mse, ce or sse), averaged over the split. With -json the
output is one object:

  {"checkpoint": FILE, "variant": "fpa", "sizes": [784, 64, ..., 10], "activation": "tanh",
   ("arch": "residual", "param": "mupc", "skips": "1:4": a layer graph's only)
   "precision": "f32", "epoch": 3, "batch_index": 0, "split": "test", "examples": 10000,
   "correct": 9680, "loss": 0.105, "accuracy": 0.968}

(precision: what the evaluation computed in, the checkpoint's unless -precision says
otherwise; epoch and batch_index: where the checkpoint's run stood; accuracy is a ratio
in [0, 1]).
`

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
	ck, err := checkpoint.Open(f.checkpoint)
	if err != nil {
		return fmt.Errorf("-checkpoint: %w", err)
	}
	run := &ck.Run
	if run.Sizes[0] != mnist.Pixels || run.Sizes[len(run.Sizes)-1] != mnist.Classes {
		return fmt.Errorf("-checkpoint: %s is a %s network, not one for MNIST (%d inputs, %d classes)",
			f.checkpoint, run.Net(), mnist.Pixels, mnist.Classes)
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
	p := ck.Precision
	if f.precision.set {
		p = f.precision.v
	}
	// The one place the precision becomes a type.
	var r *train.EvalReport
	if p == spec.F32 {
		r, err = evalIn[float32](ck, f.split, d)
	} else {
		r, err = evalIn[float64](ck, f.split, d)
	}
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err = fmt.Fprintln(stdout, r)
	return err
}

// evalIn evaluates the checkpoint ck in precision T on d, the split named split.
func evalIn[T tensor.Float](ck *checkpoint.Opened, split string, d *mnist.Dataset) (*train.EvalReport, error) {
	maps, err := loadMaps[T](ck)
	if err != nil {
		return nil, fmt.Errorf("-checkpoint: %w", err)
	}
	return train.EvaluateCheckpoint(ck.Path, &ck.Run, maps, ck.Position, split, d)
}
