package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// In-process runs, finished or interrupted, stop every goroutine they start: the layer
// actors, the metrics server, the data loaders.
func TestRunStopsItsGoroutines(t *testing.T) {
	args := func(out string) []string {
		return []string{"-hidden", "2", "-width", "8", "-max-train", "256", "-epochs", "1", "-metrics-addr", "127.0.0.1:0", "-out", out}
	}
	for _, tc := range []struct {
		name      string
		cancelled bool
		code      int
	}{
		{"finished", false, exitOK},
		{"interrupted before the first batch", true, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tc.cancelled {
				cancel(&interrupted{signal: os.Interrupt})
			}
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := runWithin(t, ctx, args(out), &stdout, &stderr)
			require.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			path := filepath.Join(out, "fpa-H2.safetensors")
			ck, err := checkpoint.Open(path)
			require.NoError(t, err)
			if tc.cancelled {
				require.Equal(t, fmt.Sprintf("pcnet: interrupted at epoch 1, batch 0; checkpoint written to %s (resume with -resume %s)\n", path, path), stderr.String())
				require.Equal(t, train.Position{}, ck.Position)
			} else {
				require.Empty(t, stderr.String())
				require.Equal(t, train.Position{Epoch: 1, Samples: 256}, ck.Position)
			}
		})
	}
}

func TestWidthsAndSteps(t *testing.T) {
	for _, tc := range []struct {
		hidden int
		width  string
		steps  []string
		sizes  []int
		t      int
		err    string
	}{
		{hidden: 2, width: "64", sizes: []int{784, 64, 64, 10}, t: 2},
		{hidden: 3, width: "32, 16,8", steps: []string{"7"}, sizes: []int{784, 32, 16, 8, 10}, t: 7},
		{hidden: 1, width: "5", steps: []string{"0"}, sizes: []int{784, 5, 10}, t: 0},
		{hidden: 2, width: "64,64,64", err: `-width "64,64,64" lists 3 widths but -hidden is 2`},
		{hidden: 2, width: "0", err: `-width "0": want widths in 1..65536`},
		{hidden: 2, width: "64", steps: []string{"-3"}, err: "-steps: must be >= 0, got -3"},
	} {
		f := newTrainFlags()
		f.hidden, f.width = tc.hidden, tc.width
		for _, s := range tc.steps {
			require.NoError(t, f.steps.Set(s))
		}
		var sizes []int
		r, err := f.resolve(map[string]bool{})
		if err == nil {
			sizes = r.Sizes
			require.Equal(t, tc.t, r.PC.Steps)
		}
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.sizes, sizes)
	}
}

// Comparing FPA-PC (gamma 1, T = H) with backprop on a fresh network.
func Example() {
	var stdout, stderr bytes.Buffer
	code, ok := exampleRun([]string{"compare", "-hidden", "2", "-variants", "fpa,zil", "-json"}, &stdout, &stderr)
	if !ok {
		return
	}
	var rep struct {
		Variants []struct {
			Variant string
			Steps   int
			All     struct{ Cosine float64 }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		fmt.Println(code, strings.TrimSpace(stderr.String()), err)
		return
	}
	for _, v := range rep.Variants {
		fmt.Printf("%s T=%d cosine to BP %.9f\n", v.Variant, v.Steps, v.All.Cosine)
	}
	// Output:
	// fpa T=2 cosine to BP 1.000000000
	// zil T=2 cosine to BP 1.000000000
}

// train and compare read a checkpoint's settings through one reconciliation: flags not
// given take the checkpoint's values, flags given must agree with them.
func TestReconcileWithACheckpoint(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.safetensors")
	writeSmallCheckpoint(t, good)
	ck, err := checkpoint.Load[float64](good)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args []string
		edit func(r *spec.Run) // from the checkpoint's run
		err  string
	}{
		{"all from the checkpoint", nil, func(r *spec.Run) {}, ""},
		{"an agreeing flag", []string{"-lr", "0.01", "-width", "16"}, func(r *spec.Run) {}, ""},
		{"a setting it does not fix", []string{"-schedule", "dense", "-epochs", "3"}, func(r *spec.Run) { r.PC.Schedule, r.Epochs = pcnet.Dense, 3 }, ""},
		{"a contradicting flag", []string{"-steps", "3"}, nil, "-steps 3 does not match the checkpoint " + good + " (steps 2)"},
		// -activity-lr sets gamma = eta / batch (docs/design.md §11): the checkpoint's gamma
		// 1 at its batch 64 is eta 64.
		{"an agreeing -activity-lr", []string{"-activity-lr", "64"}, func(r *spec.Run) {}, ""},
		{"a contradicting -activity-lr", []string{"-activity-lr", "0.5"}, nil,
			"-activity-lr 0.5 makes gamma 0.0078125 at batch 64, which does not match the checkpoint " + good + " (gamma 1)"},
		{"a contradicting -param", []string{"-param", "mupc"}, nil, "-param mupc does not match the checkpoint " + good + " (param standard)"},
		{"an agreeing -arch", []string{"-arch", "chain", "-param", "standard", "-skips", ""}, func(r *spec.Run) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, _, err := trainFromFlags(append([]string{"-resume", good}, tc.args...), io.Discard)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			want := ck.Run
			want.PC.Engine, want.PC.Schedule = pcnet.Parallel, pcnet.Event // flags' defaults: the checkpoint has none
			want.PC.Tolerance = metrics.DefaultConvergenceTolerance
			tc.edit(&want)
			require.Equal(t, want, *r)
		})
	}
	f := newCompareFlags()
	require.NoError(t, parseFlags(f.fs, []string{"-checkpoint", good, "-variants", "fpa"}, io.Discard))
	c, err := f.resolve()
	require.NoError(t, err)
	require.Equal(t, ck.Run.Sizes, c.runs[0].Sizes, "compare takes the architecture from the checkpoint")
	require.Equal(t, ck.Run.Seed, c.ck.Run.Seed)
	require.Equal(t, spec.F64, c.runs[0].Precision, "compare takes the checkpoint's precision when -precision is not given")
}

// compare -json carries every variant's energy trace: F(0..T), the per-node terms that
// add up to it in node order, F(0) the batch's loss, and standard PC at a small step
// lowering F at every step.
func TestCompareJSONEnergy(t *testing.T) {
	const h, steps = 3, 8
	var stdout, stderr bytes.Buffer
	code := runWithin(t, context.Background(), []string{"compare", "-hidden", "3", "-width", "8", "-batch", "16", "-variants", "fpa,pc",
		"-steps", "8", "-gamma", "0.1", "-json"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	var rep struct {
		Batch    struct{ Loss float64 }
		Variants []struct {
			Variant string
			Energy  *struct {
				Total []float64
				Nodes [][]float64
			}
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep))
	require.Len(t, rep.Variants, 2)
	for _, v := range rep.Variants {
		require.NotNil(t, v.Energy, "%s: no energy field", v.Variant)
		e := v.Energy
		require.Len(t, e.Total, steps+1, v.Variant)
		require.Len(t, e.Nodes, h+1, "%s: nodes 1..H+1", v.Variant)
		require.Equal(t, rep.Batch.Loss, e.Total[0], "%s: F(0) is the loss", v.Variant)
		for s := range e.Total {
			sum := 0.0
			for _, n := range e.Nodes {
				sum += n[s]
			}
			require.Equal(t, e.Total[s], sum, "%s: F(%d) is the sum of the terms", v.Variant, s)
			if v.Variant == "pc" && s > 0 {
				require.LessOrEqual(t, e.Total[s], e.Total[s-1], "pc: F(%d) > F(%d)", s, s-1)
			}
		}
	}
}

// -precision's value when not given: train's and compare's f32, with -workers or -nats
// too (the workers take the coordinator's); given, it is what it says.
func TestPrecisionFlagDefaults(t *testing.T) {
	nats := []string{"-nats", "nats://127.0.0.1:4222", "-run", "r1", "-placement", "0-1,2-3", "-run-key-env", "PCNET_TEST_KEY", "-hidden", "2"}
	for _, tc := range []struct {
		name string
		args []string
		want spec.Precision
	}{
		{"train", nil, spec.F32},
		{"train -precision f64", []string{"-precision", "f64"}, spec.F64},
		{"train -workers", []string{"-workers", "2"}, spec.F32},
		{"train -workers -precision f64", []string{"-workers", "2", "-precision", "f64"}, spec.F64},
		{"train -nats", nats, spec.F32},
		{"train -nats -precision f64", append([]string{"-precision", "f64"}, nats...), spec.F64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, _, err := trainFromFlags(tc.args, io.Discard)
			require.NoError(t, err)
			require.Equal(t, tc.want, r.Precision)
		})
	}
	for _, tc := range []struct {
		args []string
		want spec.Precision
	}{
		{nil, spec.F32},
		{[]string{"-precision", "f64"}, spec.F64},
		{[]string{"-workers", "2"}, spec.F32},
		{[]string{"-workers", "2", "-precision", "f64"}, spec.F64},
	} {
		f := newCompareFlags()
		require.NoError(t, parseFlags(f.fs, append([]string{"-variants", "fpa,pc"}, tc.args...), io.Discard))
		c, err := f.resolve()
		require.NoError(t, err)
		for _, r := range c.runs {
			require.Equal(t, tc.want, r.Precision, "compare %v", tc.args)
		}
	}
}
