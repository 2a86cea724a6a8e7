package spec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/stretchr/testify/require"
)

func TestAlgorithmNames(t *testing.T) {
	for _, a := range Algorithms() {
		got, err := ParseAlgorithm(a.String())
		require.NoError(t, err)
		require.Equal(t, a, got)
		v, ok := a.Variant()
		require.Equal(t, a != BP, ok, "%v", a)
		require.Equal(t, a.IsPC(), ok)
		if ok {
			require.Equal(t, v.String(), a.String(), "a PC algorithm is named as its variant")
			require.Equal(t, a, FromVariant(v))
		}
	}
	require.Equal(t, []string{"bp", "fpa", "pc", "scaled", "zil", "ipc"}, AlgorithmNames())
	_, err := ParseAlgorithm("ff")
	require.ErrorContains(t, err, `unknown algorithm "ff" (want one of bp, fpa, pc, scaled, zil, ipc)`)
	_, ok := Algorithm(0).Variant()
	require.False(t, ok, "the zero algorithm is not BP's stand-in, nor a variant")
}

// -precision takes f32 and f64; the zero value is float64, what every run was before the
// choice; PrecisionOf names a type's precision.
func TestPrecisions(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Precision
		typ  string
		err  string
	}{
		{"f32", F32, "float32", ""},
		{"f64", F64, "float64", ""},
		{"f16", 0, "", `unknown precision "f16" (want f32 or f64)`},
		{"float32", 0, "", `unknown precision "float32" (want f32 or f64)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePrecision(tc.name)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, p)
			require.Equal(t, tc.name, p.String())
			require.Equal(t, tc.typ, p.Type())
		})
	}
	require.Equal(t, F64, Run{}.Precision)
	require.Equal(t, F32, PrecisionOf[float32]())
	require.Equal(t, F64, PrecisionOf[float64]())
	require.Equal(t, "Precision(2)", Precision(2).String())
}

// Every setting out of range is a *FieldError naming it.
func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(r *Run)
		field string
	}{
		{"no algorithm", func(r *Run) { r.Algorithm = 0 }, "algorithm"},
		{"H = 0", func(r *Run) { r.Sizes = []int{784, 10} }, "hidden"},
		{"H too big", func(r *Run) { r.Sizes = make([]int, MaxHidden+3) }, "hidden"},
		{"width 0", func(r *Run) { r.Sizes[2] = 0 }, "width"},
		{"activation", func(r *Run) { r.Activation = 99 }, "activation"},
		{"loss", func(r *Run) { r.Loss = "hinge" }, "loss"},
		{"steps", func(r *Run) { r.PC.Steps = -1 }, "steps"},
		{"ipc steps", func(r *Run) { r.Algorithm, r.PC.Steps = IPC, 0 }, "steps"},
		{"gamma", func(r *Run) { r.PC.Gamma = math.Inf(1) }, "gamma"},
		{"bp gamma", func(r *Run) { r.Algorithm, r.PC.Gamma = BP, 0 }, "gamma"},
		{"zil gamma", func(r *Run) { r.Algorithm, r.PC.Gamma = ZIL, 0.5 }, "gamma"},
		{"k of fpa", func(r *Run) { r.PC.K = 0 }, "k"},
		{"precisions of fpa", func(r *Run) { r.PC.Precisions = []float64{1, 1, 1, 1} }, "precisions"},
		{"precisions of bp", func(r *Run) { r.Algorithm, r.PC.Precisions = BP, []float64{1, 1, 1, 1} }, "precisions"},
		{"precisions length", func(r *Run) { r.Algorithm, r.PC.Precisions = PC, []float64{1} }, "precisions"},
		{"engine", func(r *Run) { r.PC.Engine = 0 }, "engine"},
		{"schedule", func(r *Run) { r.PC.Schedule = 7 }, "schedule"},
		{"optimizer", func(r *Run) { r.Optimizer.Kind = 0 }, "optimizer"},
		{"lr", func(r *Run) { r.Optimizer.LR = 0 }, "lr"},
		{"momentum", func(r *Run) { r.Optimizer.Momentum = 1 }, "momentum"},
		{"eps", func(r *Run) { r.Optimizer = optim.DefaultAdam(1e-3); r.Optimizer.Eps = 0 }, "eps"},
		{"nesterov", func(r *Run) { r.Optimizer.Nesterov, r.Optimizer.Dampening = true, 0.5 }, "optimizer"},
		{"batch 0", func(r *Run) { r.Batch = 0 }, "batch"},
		{"batch too big", func(r *Run) { r.Batch = MaxBatch + 1 }, "batch"},
		{"epochs", func(r *Run) { r.Epochs = 0 }, "epochs"},
		{"max train", func(r *Run) { r.Data.MaxTrain = -1 }, "max-train"},
		{"dataset", func(r *Run) { r.Data.Dataset = "cifar" }, "dataset"},
		{"tol", func(r *Run) { r.PC.Tolerance = 1 }, "tol"},
		{"precision", func(r *Run) { r.Precision = 2 }, "precision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Default()
			r.Sizes = append([]int(nil), r.Sizes...)
			require.NoError(t, r.Validate())
			tc.edit(&r)
			err := r.Validate()
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field, "%v", err)
		})
	}
}

func TestValidDatasets(t *testing.T) {
	for _, d := range []string{"", "mnist", "fashion"} {
		r := Default()
		r.Data.Dataset = d
		require.NoError(t, r.Validate(), "dataset %q", d)
	}
}

func TestValidAlgorithms(t *testing.T) {
	for _, a := range Algorithms() {
		r := Default()
		r.Algorithm = a
		if a == PC || a == IPC {
			r.PC.Precisions = []float64{0.5, 1, 2, 4}
		}
		require.NoError(t, r.Validate(), "%v", a)
		cfg := r.PCConfig(nil)
		v, _ := a.Variant()
		require.Equal(t, v, cfg.Variant)
		require.Equal(t, r.Batch, cfg.MaxBatch)
		require.Equal(t, r.PC.Precisions, cfg.Precisions)
		require.Equal(t, "nll", cfg.Loss.Name())
	}
}

// A run crosses gob (to the workers) as is: floats bit for bit.
func TestGobKeepsTheRunExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	for i := range 20 {
		r := Default()
		r.Algorithm = Algorithms()[i%len(Algorithms())]
		r.PC.Gamma, r.PC.K = rng.Float64(), math.Nextafter(1, 2)
		r.PC.Precisions = []float64{rng.ExpFloat64(), 1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64}
		r.PC.Schedule = pcnet.Dense
		r.Optimizer.LR = rng.Float64() / 7
		r.Seed = rng.Uint64()
		r.Data = Data{Dir: "/tmp/mnist", MaxTrain: rng.IntN(1000)}
		var buf bytes.Buffer
		require.NoError(t, gob.NewEncoder(&buf).Encode(&r))
		var got Run
		require.NoError(t, gob.NewDecoder(&buf).Decode(&got))
		require.Equal(t, r, got)
	}
}
