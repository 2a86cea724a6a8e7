package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pcnet/pcnet/experiments"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
)

type experimentFlags struct {
	fs        *flag.FlagSet
	quick     bool
	out       string
	seed      uint64
	data      string
	dataset   string
	workers   int
	fresh     bool
	replot    bool
	schedule  string
	precision precisionFlag
}

func newExperimentFlags() *experimentFlags {
	f := &experimentFlags{fs: flag.NewFlagSet("experiment", flag.ContinueOnError)}
	fs := f.fs
	fs.BoolVar(&f.quick, "quick", false, "the quick preset: small subsets and few settings (experiment all: 36 s of CPU time; 2 min 52 s wall on two cores shared with other work)")
	fs.StringVar(&f.out, "out", "results", "`directory` for the CSV files, PNG plots and markdown summaries (finished grid points are cached in its cache/ folder)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the initial weights and of the batch order")
	fs.StringVar(&f.data, "data", "", dataDirUsage)
	fs.StringVar(&f.dataset, "dataset", mnist.MNIST, datasetUsage)
	fs.IntVar(&f.workers, "workers", 0, "grid points or online runs trained at once (0: GOMAXPROCS)")
	fs.BoolVar(&f.fresh, "fresh", false, "retrain grid points even when the cache holds them")
	fs.BoolVar(&f.replot, "replot", false, "redraw the plots of cosine, accuracy and online (or all three) from the CSV files in -out, training and measuring nothing")
	fs.StringVar(&f.schedule, "schedule", "event", "`schedule` of the PC networks: event or dense (the same numbers; complexity times both)")
	registerPrecision(fs, &f.precision, spec.F64, "the experiments run in float64 only (see pcnet experiment -h)")
	return f
}

const experimentDetails = `Experiments (NAME goes before the flags: pcnet experiment cosine -quick):
  cosine      the paper's Figure 3: cosine of FPA-PC's updates to BP's against T/H, a line per gamma
  accuracy    Figures 4 and 5: validation and test accuracy of FPA-PC on the same grid, next to BP's
  wavefront   Theorem 1: the step at which each layer's error first moves against its distance
  complexity  Result 3: time and VJPs per weight update of BP and PC against H, at GOMAXPROCS 1 and 2
  online      §3.6's open question: one pass over MNIST at batch 1 (and 64), BP with SGD, momentum
              and Adam against standard PC and iPC, over a learning-rate grid from stable to diverged
  depth       deep networks (docs/design.md §11): jpc's μPC tutorial (H = 29, N = 128) beside the
              notebook's curve, a depth sweep (H 8..64) of μPC, PC and BP with per-layer update
              norms, and long-skip wavefronts against the graph-distance rule (MNIST, Fashion-MNIST)
  all         every experiment, sharing the training runs of cosine and accuracy

The full preset trains the paper's whole grid on all of MNIST (H in {2, 4, 8, 16}, gamma in
{0.1, 0.2, 0.5, 1}, T/H in {0.25, ..., 4}, three epochs each) and streams all 55,000
training images through 432 online runs (8 methods, 9 learning rates, 3 seeds, batch 1
and 64); grid points and runs go concurrently, -workers at a time. Ctrl-C stops between
grid points, runs or batches; running the same command again resumes from what the cache
holds.

Every experiment runs in float64 (-precision f64, the only value it takes). cosine,
accuracy and wavefront make exactness claims: FPA-PC with gamma 1 and T >= H makes
backprop's updates to the last bit (cosine 1, relative error ~1e-16, the same
accuracies), and each layer's error first moves exactly at its distance; float64 is
what those figures were measured and are stated in. complexity and online share their
training code and caches with them and stay float64 too, so that every figure of one
run is in one precision; pcnet train -precision f32 trains in float32.
`

func runExperiment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newExperimentFlags()
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(f.fs, args, stdout); err != nil {
		return err
	}
	if name == "" {
		return usagef("missing experiment name: want one of %s (see pcnet experiment -h)", strings.Join(experiments.Names(), ", "))
	}
	if !slices.Contains(experiments.Names(), name) {
		return usagef("unknown experiment %q: want one of %s", name, strings.Join(experiments.Names(), ", "))
	}
	if f.out == "" {
		return usagef("-out: must name a directory")
	}
	if f.workers < 0 {
		return usagef("-workers: must be >= 0, got %d", f.workers)
	}
	if f.precision.v != spec.F64 {
		return usagef("-precision %s: the experiments run in float64 only: cosine, accuracy and wavefront make exactness claims, stated in float64 (see pcnet experiment -h)", f.precision.v)
	}
	sched, err := pcnet.ParseSchedule(f.schedule)
	if err != nil {
		return usagef("-schedule: %v", err)
	}
	dataset, err := datasetOf(f.dataset)
	if err != nil {
		return err
	}
	opts := experiments.Options{OutDir: f.out, Seed: f.seed, Quick: f.quick, Dataset: dataset, DataDir: f.data, Workers: f.workers, Fresh: f.fresh, Schedule: sched}
	if f.replot {
		if err := experiments.Replot(name, opts); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plots redrawn in %s\n", f.out)
		return nil
	}
	err = experiments.Run(ctx, name, opts, stdout)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return &reportedError{fmt.Sprintf("pcnet: interrupted; what finished is cached in %s (run the same command again to resume)", f.out)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results in %s, computed in float64 (NAME.md summaries, README.md after all, CSV and PNG files)\n", f.out)
	return nil
}
