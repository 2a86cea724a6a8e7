package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/checkpoint"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/safetensors"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

// binary is the pcnet command built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pcnet-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pcnet")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pcnet:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// pcnetRun runs the binary to its end, within commandDeadline.
func pcnetRun(t *testing.T, args ...string) result {
	t.Helper()
	ctx := commandCtx(t)
	cmd := pcnetCommand(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("pcnet %v ran past its %v deadline (sent SIGQUIT); stdout:\n%s\nstderr:\n%s", args, commandDeadline, stdout.String(), stderr.String())
	}
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		require.True(t, ok, "running pcnet %v: %v", args, err)
		code = exit.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// pcnetCommand is the binary with args, stopped when ctx ends: first with SIGQUIT, so
// that a hung process prints every goroutine's stack (the node it waits in among them),
// then killed if it has not exited a few seconds later.
func pcnetCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// started is a run of the binary in the background whose output lines arrive on lines
// (stdout) and errLines (stderr).
type started struct {
	cmd             *exec.Cmd
	ctx             context.Context // ends at the process's deadline
	lines, errLines chan string
	stdout, stderr  *strings.Builder
	done            chan struct{} // closed when both streams have ended
}

func pcnetStart(t *testing.T, args ...string) *started {
	t.Helper()
	ctx := commandCtx(t)
	s := &started{cmd: pcnetCommand(ctx, args...), ctx: ctx, lines: make(chan string, 1000), errLines: make(chan string, 1000),
		stdout: &strings.Builder{}, stderr: &strings.Builder{}, done: make(chan struct{})}
	out, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	errOut, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	var wg sync.WaitGroup
	for _, st := range []struct {
		r     io.Reader
		text  *strings.Builder
		lines chan string
	}{{out, s.stdout, s.lines}, {errOut, s.stderr, s.errLines}} {
		wg.Go(func() {
			defer close(st.lines)
			sc := bufio.NewScanner(st.r)
			for sc.Scan() {
				st.text.WriteString(sc.Text() + "\n")
				select {
				case st.lines <- sc.Text():
				default:
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.wait()
	})
	return s
}

// waitFor returns the first line on stdout (from now on) with the prefix.
func (s *started) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	return s.waitForLine(t, s.lines, "stdout", prefix)
}

// waitForStderr returns the first line on stderr (from now on) with the prefix.
func (s *started) waitForStderr(t *testing.T, prefix string) string {
	t.Helper()
	return s.waitForLine(t, s.errLines, "stderr", prefix)
}

func (s *started) waitForLine(t *testing.T, lines chan string, stream, prefix string) string {
	t.Helper()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				r := s.wait()
				s.failPastDeadline(t, r)
				t.Fatalf("pcnet ended (status %d) before printing a line starting %q on %s; stdout:\n%s\nstderr:\n%s", r.code, prefix, stream, r.stdout, r.stderr)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-s.ctx.Done():
			s.failPastDeadline(t, s.wait())
		}
	}
}

// failPastDeadline fails the test if the process ran past its deadline (and was
// stopped), with its output: with the stacks of its goroutines if it was hung.
func (s *started) failPastDeadline(t *testing.T, r result) {
	t.Helper()
	if s.ctx.Err() != nil {
		t.Fatalf("pcnet %v ran past its %v deadline (sent SIGQUIT); stdout:\n%s\nstderr:\n%s", s.cmd.Args[1:], commandDeadline, r.stdout, r.stderr)
	}
}

func (s *started) wait() result {
	<-s.done
	err := s.cmd.Wait()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	}
	return result{s.stdout.String(), s.stderr.String(), code}
}

// oneLine checks that stderr is one line and no crash.
func oneLine(t *testing.T, r result) string {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	require.NotContains(t, line, "\n", "stderr must be one line:\n%s", r.stderr)
	require.NotContains(t, r.stderr, "goroutine")
	require.NotContains(t, r.stderr, "panic")
	return line
}

var accuracyLine = regexp.MustCompile(`(?m)^test accuracy (\d+\.\d\d)% \(loss \d+\.\d+\); checkpoint: (.+)$`)

// The default command on a small subset: it trains, prints the epoch and accuracy lines,
// writes a checkpoint that eval reads back.
func TestTrainSmallDefaultRun(t *testing.T) {
	out := t.TempDir()
	r := pcnetRun(t, "-max-train", "2000", "-epochs", "1", "-metrics-addr", "127.0.0.1:0", "-out", out)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Empty(t, r.stderr)
	require.Contains(t, r.stdout, "train fpa on 784-64-64-64-64-10 tanh, T 4, gamma 1")
	require.Regexp(t, `(?m)^metrics: http://127\.0\.0\.1:\d+/metrics  run="fpa-H4-seed1-[0-9a-f]{4}"$`, r.stdout)
	require.Regexp(t, `(?m)^epoch 1/1  batch \d+/32  loss \d`, r.stdout)
	// FPA with gamma 1 and T = H is BP; Theorem 1 says distance d first moves at step d.
	require.Regexp(t, `(?m)^epoch 1/1  loss \d+\.\d+  val acc \d+\.\d\d%  cos\(PC,BP\) 1\.000000 \(min 1\.00000 at layer \d\)  first-nonzero step d1:1 d2:2 d3:3 d4:4  converged d1:1 d2:2 d3:3 d4:4  time`, r.stdout)
	m := accuracyLine.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "no accuracy line in:\n%s", r.stdout)
	path := filepath.Join(out, "fpa-H4.safetensors")
	require.Equal(t, path, m[2])

	ck, err := checkpoint.Load[float32](path)
	require.NoError(t, err)
	require.Equal(t, spec.F32, ck.Run.Precision, "train's default precision")
	require.Equal(t, train.Position{Epoch: 1, Batch: 0, Samples: 2000}, ck.Position)
	require.Equal(t, int64(32), ck.Step)
	require.Equal(t, spec.FPA, ck.Run.Algorithm)
	require.Equal(t, 4, ck.Run.PC.Steps)

	// eval reads the checkpoint back, with the same test accuracy as train printed.
	r = pcnetRun(t, "eval", "-checkpoint", path, "-json")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var ev train.EvalReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ev))
	require.Equal(t, "test", ev.Split)
	require.Equal(t, 10000, ev.Examples)
	require.Equal(t, m[1], fmt.Sprintf("%.2f", 100*ev.Accuracy))

	r = pcnetRun(t, "eval", "-checkpoint", path, "-split", "validation")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Regexp(t, `^validation: loss \d+\.\d{4}  accuracy \d+\.\d\d% \(\d+/5000\) in float32; checkpoint `, r.stdout)
}

// compare on a fresh seeded network: FPA with gamma 1 and T = H makes BP's update.
func TestCompareFreshNetworkFPAIsBP(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "dump.safetensors")
	r := pcnetRun(t, "compare", "-json", "-hidden", "3", "-seed", "7", "-batch", "32", "-batch-index", "2", "-dump", dump)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var rep struct {
		Batch struct {
			First, Size int
		}
		Variants []struct {
			Variant string
			Steps   int
			Gamma   float64
			Layers  []struct{ Cosine, RelErr *float64 }
			All     struct {
				Cosine *float64
				RelErr *float64 `json:"rel_err"`
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Equal(t, 64, rep.Batch.First)
	require.Equal(t, 32, rep.Batch.Size)
	require.Len(t, rep.Variants, 4)
	fpa := rep.Variants[0]
	require.Equal(t, "fpa", fpa.Variant)
	require.Equal(t, 3, fpa.Steps)
	require.Len(t, fpa.Layers, 4)
	for l, a := range fpa.Layers {
		require.InDelta(t, 1, *a.Cosine, 1e-9, "layer %d", l)
	}
	require.InDelta(t, 1, *fpa.All.Cosine, 1e-9)
	require.Less(t, *fpa.All.RelErr, 1e-9)
	zil := rep.Variants[3]
	require.Equal(t, "zil", zil.Variant)
	require.InDelta(t, 1, *zil.All.Cosine, 1e-9)

	// The dump holds FPA's updates, which are minus BP's gradients.
	f, err := safetensors.ReadFile(dump)
	require.NoError(t, err)
	for l := range 4 {
		for _, p := range []string{"weight", "bias"} {
			got, ok := f.Get(fmt.Sprintf("fpa.layers.%d.%s", l, p))
			require.True(t, ok)
			want, ok := f.Get(fmt.Sprintf("bp.layers.%d.%s", l, p))
			require.True(t, ok)
			require.Equal(t, want.Shape, got.Shape)
			for i := range got.Data {
				require.InDelta(t, -want.Data[i], got.Data[i], 1e-12)
			}
		}
	}
	in, ok := f.Get("input")
	require.True(t, ok)
	require.Equal(t, []int{32, 784}, in.Shape)
	require.Equal(t, "f32", f.Metadata["precision"], "compare's default precision")
	require.Equal(t, safetensors.F32, in.DType)

	// The table: fewer steps than the distance leaves the bottom layers without update.
	r = pcnetRun(t, "compare", "-variants", "fpa", "-hidden", "3", "-steps", "1", "-gamma", "1")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Regexp(t, `(?m)^fpa +1 +1 +- +0 +- `, r.stdout)
	require.Regexp(t, `(?m)^ +3 +1\.000000000 `, r.stdout)
	require.Contains(t, r.stdout, "\nfpa: weight layers 0 1 take an exactly zero update\n", "the layers that do not learn")
}

// writeSmallCheckpoint saves a fresh 784-16-16-10 checkpoint, as pcnet train would.
func writeSmallCheckpoint(t *testing.T, path string) {
	t.Helper()
	sizes := []int{784, 16, 16, 10}
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(1, 0)))
	require.NoError(t, err)
	opt := optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9}
	states := make([][2]*optim.State[float64], len(layers))
	for l, d := range layers {
		p := d.Params()
		states[l] = [2]*optim.State[float64]{opt.NewState(len(p[0])), opt.NewState(len(p[1]))}
	}
	require.NoError(t, checkpoint.Save(path, &checkpoint.Checkpoint[float64]{
		// No engine or schedule: a checkpoint written before they were stored.
		Run: spec.Run{
			Sizes: sizes, Activation: layer.Tanh, Loss: "nll", Algorithm: spec.FPA, PC: spec.PCSettings{Steps: 2, Gamma: 1, K: 1},
			Optimizer: opt, Seed: 1, Batch: 64, Epochs: 1,
		},
		Layers: layers, OptimizerState: checkpoint.CaptureOptimizers(states),
	}))
}

// Every bad input: its exit status and a one-line message naming the flag or file.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	writeSmallCheckpoint(t, good)
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.safetensors")
	require.NoError(t, os.WriteFile(truncated, raw[:len(raw)/2], 0o644))
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	require.NoError(t, os.WriteFile(corrupt, bytes.Replace(raw, []byte(`"sizes":"784,16,16,10"`), []byte(`"sizes":"784,16,17,10"`), 1), 0o644))
	garbage := filepath.Join(dir, "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("definitely not safetensors"), 0o644))
	noMNIST := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	out := filepath.Join(dir, "runs")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown variant", []string{"-variant", "ff"}, 2, `pcnet train: -variant "ff": want one of bp, fpa, pc, scaled, zil`},
		{"H < 1", []string{"-hidden", "0"}, 2, "pcnet train: -hidden: must be >= 1, got 0"},
		{"widths not H", []string{"-hidden", "3", "-width", "64,32"}, 2, `pcnet train: -width "64,32" lists 2 widths but -hidden is 3`},
		{"bad width", []string{"-width", "64,x"}, 2, `pcnet train: -width "64,x": want widths in 1..65536`},
		{"T < 0", []string{"-steps", "-1"}, 2, "pcnet train: -steps: must be >= 0, got -1"},
		{"gamma 0", []string{"-gamma", "0"}, 2, "pcnet train: -gamma: must be a finite number > 0, got 0"},
		{"gamma < 0", []string{"-gamma", "-0.5"}, 2, "pcnet train: -gamma: must be a finite number > 0, got -0.5"},
		{"k", []string{"-variant", "scaled", "-k", "0"}, 2, "pcnet train: -k: must be a finite number > 0, got 0"},
		{"zil gamma", []string{"-variant", "zil", "-gamma", "0.5"}, 2, "pcnet train: -gamma: Z-IL runs with gamma 1, got 0.5"},
		{"precisions", []string{"-variant", "pc", "-hidden", "2", "-precisions", "1"}, 2, `pcnet train: -precisions "1" lists 1 values but -hidden is 2`},
		{"activation", []string{"-activation", "swish"}, 2, `pcnet train: -activation: unknown activation "swish"`},
		{"optimizer", []string{"-optimizer", "rmsprop"}, 2, `pcnet train: -optimizer "rmsprop": want sgd or adam`},
		{"lr", []string{"-lr", "0"}, 2, "pcnet train: -lr: must be a finite number > 0, got 0"},
		{"momentum", []string{"-momentum", "1"}, 2, "pcnet train: -momentum: must be in [0, 1), got 1"},
		{"momentum with adam", []string{"-optimizer", "adam", "-momentum", "0.5"}, 2, "pcnet train: -momentum is not a setting of -optimizer adam"},
		{"batch", []string{"-batch", "0"}, 2, "pcnet train: -batch: must be >= 1, got 0"},
		{"epochs", []string{"-epochs", "0"}, 2, "pcnet train: -epochs: must be >= 1, got 0"},
		{"max-train", []string{"-max-train", "-5"}, 2, "pcnet train: -max-train: must be >= 0, got -5"},
		{"tol", []string{"-tol", "1"}, 2, "pcnet train: -tol: must be in [0, 1), got 1"},
		{"engine", []string{"-engine", "gpu"}, 2, `pcnet train: -engine: unknown engine "gpu"`},
		{"loss", []string{"-loss", "hinge"}, 2, `pcnet train: -loss: unknown loss "hinge"`},
		{"metrics addr", []string{"-metrics-addr", "nonsense"}, 2, `pcnet train: -metrics-addr "nonsense": want host:port`},
		{"run label", []string{"-run-label", "my run"}, 2, `pcnet train: -run-label: run label "my run": ' ' is not a letter, digit, '.', '_', ':' or '-'`},
		{"unknown flag", []string{"-layers", "3"}, 2, "pcnet train: flag provided but not defined: -layers (see pcnet train -h)"},
		{"bad number", []string{"-hidden", "four"}, 2, `pcnet train: invalid value "four" for flag -hidden`},
		{"argument", []string{"train", "fast"}, 2, `pcnet train: unexpected argument "fast"`},
		{"unknown command", []string{"fit"}, 2, `pcnet: unknown command "fit"`},
		{"architecture mismatch", []string{"-resume", good, "-hidden", "3"}, 2, fmt.Sprintf("pcnet train: -hidden 3 does not match the checkpoint %s (hidden 2)", good)},
		{"width mismatch", []string{"-resume", good, "-width", "32"}, 2, fmt.Sprintf("pcnet train: -width 32,32 does not match the checkpoint %s (width 16,16)", good)},
		{"setting mismatch", []string{"-resume", good, "-lr", "0.1"}, 2, fmt.Sprintf("pcnet train: -lr 0.1 does not match the checkpoint %s (lr 0.01)", good)},
		{"compare mismatch", []string{"compare", "-checkpoint", good, "-hidden", "4"}, 2, fmt.Sprintf("pcnet compare: -hidden 4 does not match the checkpoint %s (hidden 2)", good)},
		{"compare bp", []string{"compare", "-variants", "fpa,bp"}, 2, "pcnet compare: -variants: bp is the reference"},
		{"compare zil gamma", []string{"compare", "-gamma", "0.5"}, 2, "pcnet compare: -gamma: Z-IL runs with gamma 1, got 0.5"},
		{"compare precisions", []string{"compare", "-variants", "pc,fpa", "-hidden", "2", "-precisions", "1,0"}, 2, "pcnet compare: -precisions: pi_2 = 0: must be a finite number > 0"},
		{"compare loss mismatch", []string{"compare", "-checkpoint", good, "-loss", "mse"}, 2, fmt.Sprintf("pcnet compare: -loss mse does not match the checkpoint %s (loss nll)", good)},
		{"adam eps", []string{"-optimizer", "adam", "-eps", "0"}, 2, "pcnet train: -eps: must be a finite number > 0, got 0"},
		{"eval no checkpoint", []string{"eval"}, 2, "pcnet eval: -checkpoint: required"},
		{"eval split", []string{"eval", "-checkpoint", good, "-split", "dev"}, 2, `pcnet eval: -split "dev": want train, validation or test`},
		{"truncated checkpoint", []string{"-resume", truncated}, 1, fmt.Sprintf("pcnet train: -resume: %s: truncated", truncated)},
		{"corrupt checkpoint", []string{"eval", "-checkpoint", corrupt}, 1, fmt.Sprintf(`pcnet eval: -checkpoint: %s: tensor "layers.1.weight" has shape [16 16], want [17 16]`, corrupt)},
		{"garbage checkpoint", []string{"compare", "-checkpoint", garbage}, 1, fmt.Sprintf("pcnet compare: -checkpoint: %s: header length", garbage)},
		{"missing checkpoint", []string{"eval", "-checkpoint", filepath.Join(dir, "absent")}, 1, "no such file or directory"},
		{"no MNIST", []string{"-data", noMNIST, "-metrics-addr", "", "-out", out}, 1, fmt.Sprintf("pcnet train: -data %s: ", noMNIST)},
		{"no Fashion-MNIST", []string{"-dataset", "fashion", "-data", noMNIST, "-metrics-addr", "", "-out", out}, 1, fmt.Sprintf("pcnet train: -data %s: ", noMNIST)},
		{"dataset", []string{"-dataset", "cifar"}, 2, `pcnet train: -dataset "cifar": want mnist or fashion`},
		{"eval dataset", []string{"eval", "-checkpoint", good, "-dataset", "digits"}, 2, `pcnet eval: -dataset "digits": want mnist or fashion`},
		{"experiment dataset", []string{"experiment", "all", "-dataset", "cifar"}, 2, `pcnet experiment: -dataset "cifar": want mnist or fashion`},
		{"precision", []string{"-precision", "f16"}, 2, `pcnet train: invalid value "f16" for flag -precision: want f32 or f64`},
		{"compare precision", []string{"compare", "-precision", "half"}, 2, `pcnet compare: invalid value "half" for flag -precision: want f32 or f64`},
		{"eval precision", []string{"eval", "-checkpoint", good, "-precision", "f16"}, 2, `pcnet eval: invalid value "f16" for flag -precision: want f32 or f64`},
		{"experiment precision", []string{"experiment", "cosine", "-precision", "f32"}, 2, "pcnet experiment: -precision f32: the experiments run in float64 only"},
		{"precision mismatch", []string{"-resume", good, "-precision", "f32"}, 2, fmt.Sprintf("pcnet train: -precision f32 does not match the checkpoint %s (precision f64)", good)},
		{"dataset mismatch", []string{"-resume", good, "-dataset", "fashion"}, 2, fmt.Sprintf("pcnet train: -dataset fashion does not match the checkpoint %s (dataset mnist)", good)},
		{"port in use", []string{"-metrics-addr", busy.Addr().String(), "-out", out}, 1, fmt.Sprintf("pcnet train: -metrics-addr %s: address already in use", busy.Addr())},
		{"experiment name", []string{"experiment", "-quick"}, 2, "pcnet experiment: missing experiment name"},
		{"unknown experiment", []string{"experiment", "fig9"}, 2, `pcnet experiment: unknown experiment "fig9"`},
		{"experiment workers", []string{"experiment", "all", "-workers", "-1"}, 2, "pcnet experiment: -workers: must be >= 0, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pcnetRun(t, tc.args...)
			line := oneLine(t, r)
			require.Equal(t, tc.code, r.code, "stderr: %s", r.stderr)
			require.Contains(t, line, tc.want)
		})
	}
}

// -dataset fashion trains on Fashion-MNIST where Debian's package put it; the checkpoint
// keeps the dataset, so eval and -resume read Fashion-MNIST again without the flag.
func TestTrainFashionMNIST(t *testing.T) {
	if _, err := os.Stat(filepath.Join(mnist.FashionDir, mnist.TrainImagesFile)); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist): %v", err)
	}
	out := t.TempDir()
	r := pcnetRun(t, "-dataset", "fashion", "-hidden", "2", "-max-train", "2000", "-epochs", "1", "-metrics-addr", "", "-out", out)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "2000 training images of Fashion-MNIST")
	m := accuracyLine.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "no accuracy line in:\n%s", r.stdout)
	ck, err := checkpoint.Open(m[2])
	require.NoError(t, err)
	require.Equal(t, "fashion", ck.Run.Data.Dataset)

	// eval reads the checkpoint's dataset: the same test accuracy as train printed; on
	// MNIST, clothes-trained weights score something else.
	e := pcnetRun(t, "eval", "-checkpoint", m[2])
	require.Equal(t, 0, e.code, "stderr: %s", e.stderr)
	require.Contains(t, e.stdout, "accuracy "+m[1]+"%")
	e = pcnetRun(t, "eval", "-checkpoint", m[2], "-dataset", "mnist")
	require.Equal(t, 0, e.code, "stderr: %s", e.stderr)
	require.NotContains(t, e.stdout, "accuracy "+m[1]+"%")

	r = pcnetRun(t, "-resume", m[2], "-dataset", "mnist", "-metrics-addr", "")
	require.Equal(t, 2, r.code)
	require.Contains(t, oneLine(t, r), "-dataset mnist does not match the checkpoint "+m[2]+" (dataset fashion)")
}

// A diverging run stops with a message and keeps the last good checkpoint.
func TestDivergenceKeepsLastGoodCheckpoint(t *testing.T) {
	out := t.TempDir()
	r := pcnetRun(t, "-variant", "bp", "-hidden", "2", "-activation", "relu", "-lr", "1e200", "-momentum", "0", "-max-train", "640", "-epochs", "2", "-metrics-addr", "", "-out", out)
	line := oneLine(t, r)
	require.Equal(t, 1, r.code)
	path := filepath.Join(out, "bp-H2.safetensors")
	require.Regexp(t, `^pcnet train: training diverged: loss is (NaN|\+Inf) at epoch 1, batch \d+; stopped, and kept the last good checkpoint `+regexp.QuoteMeta(path)+` \(the initial weights\)$`, line)
	ck, err := checkpoint.Open(path)
	require.NoError(t, err)
	require.Equal(t, train.Position{}, ck.Position)
}

// help and -h list every flag with its default.
func TestHelpListsEveryFlag(t *testing.T) {
	r := pcnetRun(t, "help")
	require.Equal(t, 0, r.code)
	for _, name := range []string{"train", "eval", "compare", "experiment"} {
		require.Contains(t, r.stdout, "Usage: pcnet "+name)
	}
	for _, tc := range []struct {
		cmd   string
		flags []string
	}{
		{"train", []string{"variant", "hidden", "width", "activation", "steps", "gamma", "k", "optimizer", "lr", "momentum", "batch", "epochs", "seed", "data", "dataset", "out", "metrics-addr", "run-label", "resume", "max-train", "precision"}},
		{"eval", []string{"checkpoint", "split", "json", "data", "dataset", "precision"}},
		{"compare", []string{"checkpoint", "hidden", "width", "seed", "variants", "steps", "gamma", "k", "split", "batch", "batch-index", "json", "dump", "dataset", "precision"}},
		{"experiment", []string{"quick", "out", "seed", "data", "dataset", "workers", "fresh", "precision"}},
	} {
		r := pcnetRun(t, tc.cmd, "-h")
		require.Equal(t, 0, r.code, tc.cmd)
		require.Empty(t, r.stderr)
		for _, f := range tc.flags {
			require.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(f)+`( \S+)?\n.*\(default [^)]*\)$`, r.stdout, "%s -h: flag -%s", tc.cmd, f)
		}
		require.Equal(t, strings.Count(r.stdout, "\n  -"), strings.Count(r.stdout, "(default "), "%s: every flag shows its default", tc.cmd)
	}
	r = pcnetRun(t, "help", "train")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "-metrics-addr host:port")
}

func httpGet(url string) (string, error) {
	// No keep-alive: an idle connection's goroutines would outlive the test.
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricsRE is the line that says where the metrics are served and under which run label.
var metricsRE = regexp.MustCompile(`^metrics: http://(127\.0\.0\.1:(\d+))/metrics  run="([^"]+)"$`)

// metricsLine returns the address and the run label of the metrics line.
func metricsLine(t *testing.T, line string) (addr, run string) {
	t.Helper()
	m := metricsRE.FindStringSubmatch(line)
	require.NotNil(t, m, "metrics line %q", line)
	require.NotEqual(t, "0", m[2], "port 0 prints the port it got")
	return m[1], m[3]
}

// -metrics-addr with port 0 serves on a free port and prints it; -run-label puts
// run="..." on every series served there, the Go runtime's and the process's included.
func TestMetricsPortZeroAndRunLabel(t *testing.T) {
	s := pcnetStart(t, "-hidden", "2", "-width", "16", "-max-train", "20000", "-epochs", "5", "-cosine-every", "0",
		"-metrics-addr", "127.0.0.1:0", "-run-label", "mine.1", "-out", t.TempDir())
	addr, run := metricsLine(t, s.waitFor(t, "metrics: "))
	require.Equal(t, "mine.1", run)
	s.waitFor(t, "epoch 1/5  batch ")
	body, err := httpGet("http://" + addr + "/metrics")
	require.NoError(t, err)
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	r := s.wait()
	require.Equal(t, 1, r.code, "interrupted; stderr: %s", r.stderr)

	samples := 0
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		require.Regexp(t, `^[a-z_]+\{(\S+,)?run="mine\.1"[,}]`, line)
		samples++
	}
	for _, name := range []string{"pcnet_inferences_total", "pcnet_train_samples_total", "go_goroutines", "process_resident_memory_bytes"} {
		require.Regexp(t, `(?m)^`+name+`\{(\S+,)?run="mine\.1"[,}]`, body)
	}
	require.Greater(t, samples, 50)
}

// interruptAck is what the command prints on stderr when the first SIGINT arrives.
const interruptAck = "pcnet: interrupt received, stopping cleanly (interrupt again to exit at once)"

var interruptLine = regexp.MustCompile(`^pcnet: interrupted at epoch (\d+), batch (\d+); checkpoint written to (.+) \(resume with -resume (.+)\)$`)

// A run sent SIGINT mid-epoch leaves a checkpoint; resuming it ends with exactly the
// weights of a run that was never stopped: for FPA-PC, and for iPC, whose optimiser
// steps T times per batch.
func TestInterruptAndResumeMatchesUninterrupted(t *testing.T) {
	for _, variant := range []string{"fpa", "ipc"} {
		t.Run(variant, func(t *testing.T) { interruptAndResume(t, variant) })
	}
}

func interruptAndResume(t *testing.T, variant string) {
	args := []string{"-variant", variant, "-steps", "3", "-hidden", "2", "-width", "32", "-max-train", "20000", "-epochs", "2", "-batch", "32",
		"-optimizer", "adam", "-lr", "0.001", "-cosine-every", "0"}
	dirA, dirB := t.TempDir(), t.TempDir()

	s := pcnetStart(t, append(args, "-out", dirA, "-metrics-addr", "127.0.0.1:0")...)
	addr, run := metricsLine(t, s.waitFor(t, "metrics: "))
	require.Regexp(t, `^`+variant+`-H2-seed1-[0-9a-f]{4}$`, run, "the default run label")
	s.waitFor(t, "epoch 1/2  batch ")
	body, err := httpGet("http://" + addr + "/metrics")
	require.NoError(t, err)
	require.Contains(t, body, fmt.Sprintf("pcnet_inferences_total{run=%q,variant=%q}", run, variant))
	require.Contains(t, body, "pcnet_error_first_nonzero_step_bucket")
	health, err := httpGet("http://" + addr + "/healthz")
	require.NoError(t, err)
	require.Equal(t, "ok\n", health)
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	r := s.wait()
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	require.NotContains(t, r.stderr, "goroutine")
	require.NotContains(t, r.stderr, "panic")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 2, "stderr: the acknowledgement and where it stopped:\n%s", r.stderr)
	require.Equal(t, interruptAck, lines[0])
	m := interruptLine.FindStringSubmatch(lines[1])
	require.NotNil(t, m, "stderr: %s", r.stderr)
	path := filepath.Join(dirA, variant+"-H2.safetensors")
	require.Equal(t, path, m[3])
	require.Equal(t, path, m[4])
	_, err = httpGet("http://" + addr + "/metrics")
	require.Error(t, err, "the metrics server must be down")

	ck, err := checkpoint.Open(path)
	require.NoError(t, err)
	require.Equal(t, m[1], fmt.Sprint(ck.Position.Epoch+1))
	require.Equal(t, m[2], fmt.Sprint(ck.Position.Batch))
	require.Less(t, ck.Position.Epoch, 2, "the run was interrupted before its end")
	t.Logf("interrupted at epoch %d, batch %d", ck.Position.Epoch+1, ck.Position.Batch)

	r = pcnetRun(t, "-resume", path, "-metrics-addr", "")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("resuming at epoch %d, batch %d", ck.Position.Epoch+1, ck.Position.Batch))
	require.Regexp(t, accuracyLine, r.stdout)

	r = pcnetRun(t, append(args, "-out", dirB, "-metrics-addr", "")...)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)

	requireSameCheckpoint(t, "uninterrupted", filepath.Join(dirB, variant+"-H2.safetensors"), "resumed", path)
}

// A checkpoint written by pcnet loads into PyTorch as a float32 state dict (train's
// default precision) with the same forward outputs, and its test accuracy in PyTorch is
// pcnet eval's.
func TestCheckpointLoadsInPyTorch(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs %s with torch (apt-get install python3-torch): %v", python, err)
		}
		t.Skipf("%s has no torch: %v", python, err)
	}
	out := t.TempDir()
	// Enough training (72% test accuracy) that the argmax comparison is not one of
	// near-uniform logits.
	r := pcnetRun(t, "-hidden", "3", "-width", "32,24,16", "-max-train", "3200", "-lr", "0.05", "-epochs", "1", "-metrics-addr", "", "-out", out)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	path := filepath.Join(out, "fpa-H3.safetensors")
	ck, err := checkpoint.Load[float32](path)
	require.NoError(t, err)

	data, err := mnist.Load("")
	require.NoError(t, err)
	x := mnist.RowsInto[float32](data.Test, 0, 16, nil)
	test := mnist.RowsInto[float32](data.Test, 0, data.Test.Len(), nil)
	labels := make([]float32, data.Test.Len())
	for i, y := range data.Test.Labels {
		labels[i] = float32(y)
	}
	input := filepath.Join(out, "input.safetensors")
	require.NoError(t, safetensors.WriteFileAtomic(input, &safetensors.File{Tensors: []safetensors.Tensor{
		safetensors.NewTensor("input", []int{16, mnist.Pixels}, x.Data),
		safetensors.NewTensor("test_input", []int{data.Test.Len(), mnist.Pixels}, test.Data),
		safetensors.NewTensor("test_labels", []int{data.Test.Len()}, labels),
	}}))
	net, err := backprop.New(ck.Layers, layer.NLL{})
	require.NoError(t, err)
	want := net.Forward(x)

	cmd := exec.Command(python, filepath.Join("testdata", "load_torch.py"), path, input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "load_torch.py: %s", stderr.String())
	var got struct {
		Sizes   []int
		DType   string
		Output  [][]float64
		Correct int
	}
	require.NoError(t, json.Unmarshal(stdout, &got))
	require.Equal(t, []int{784, 32, 24, 16, 10}, got.Sizes)
	require.Equal(t, "float32", got.DType)
	require.Len(t, got.Output, 16)
	for i, row := range got.Output {
		require.Len(t, row, 10)
		for j, v := range row {
			require.InDelta(t, float64(want.At(i, j)), v, 1e-5, "output %d,%d", i, j)
		}
	}

	e := pcnetRun(t, "eval", "-checkpoint", path, "-json")
	require.Equal(t, 0, e.code, "stderr: %s", e.stderr)
	var ev train.EvalReport
	require.NoError(t, json.Unmarshal([]byte(e.stdout), &ev))
	require.Equal(t, "f32", ev.Precision)
	require.Greater(t, ev.Accuracy, 0.5, "a network that learned")
	require.Equal(t, ev.Correct, got.Correct, "PyTorch's test accuracy is pcnet eval's")
}

// Each command's precision when -precision is not given: train's and compare's float32,
// eval's and -resume's the checkpoint's; every line that reports a run names it.
func TestPrecisionDefaults(t *testing.T) {
	out := t.TempDir()
	small := []string{"-variant", "bp", "-hidden", "2", "-width", "16", "-max-train", "320", "-metrics-addr", ""}
	files := map[spec.Precision]string{}
	for _, tc := range []struct {
		args []string
		want spec.Precision
	}{
		{nil, spec.F32},
		{[]string{"-precision", "f64"}, spec.F64},
	} {
		dir := filepath.Join(out, tc.want.String())
		r := pcnetRun(t, append(append(append([]string{}, small...), "-epochs", "1", "-out", dir), tc.args...)...)
		require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "; nll loss; "+tc.want.Type()+"; batch 64")
		path := filepath.Join(dir, "bp-H2.safetensors")
		ck, err := checkpoint.Open(path)
		require.NoError(t, err)
		require.Equal(t, tc.want, ck.Precision)
		files[tc.want] = path

		// eval: the checkpoint's precision, or the one asked for.
		for _, ev := range []struct {
			args []string
			want spec.Precision
		}{{nil, tc.want}, {[]string{"-precision", "f64"}, spec.F64}, {[]string{"-precision", "f32"}, spec.F32}} {
			e := pcnetRun(t, append([]string{"eval", "-checkpoint", path, "-json"}, ev.args...)...)
			require.Equal(t, 0, e.code, "stderr: %s", e.stderr)
			var rep train.EvalReport
			require.NoError(t, json.Unmarshal([]byte(e.stdout), &rep))
			require.Equal(t, ev.want.String(), rep.Precision, "eval %v of a %s checkpoint", ev.args, tc.want)
		}
		e := pcnetRun(t, "eval", "-checkpoint", path)
		require.Equal(t, 0, e.code, "stderr: %s", e.stderr)
		require.Contains(t, e.stdout, " in "+tc.want.Type()+"; checkpoint ")
	}

	// -resume keeps the checkpoint's precision.
	r := pcnetRun(t, append(append([]string{}, small...), "-epochs", "2", "-resume", files[spec.F32])...)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Contains(t, r.stdout, "; float32; batch 64")
	ck, err := checkpoint.Open(files[spec.F32])
	require.NoError(t, err)
	require.Equal(t, spec.F32, ck.Precision)
	require.Equal(t, 2, ck.Position.Epoch)

	// compare: float32 unless told, and the checkpoint's with -checkpoint.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "f32"},
		{[]string{"-precision", "f64"}, "f64"},
		{[]string{"-checkpoint", files[spec.F64]}, "f64"},
	} {
		c := pcnetRun(t, append([]string{"compare", "-hidden", "2", "-width", "16", "-batch", "8", "-variants", "fpa", "-json"}, tc.args...)...)
		require.Equal(t, 0, c.code, "stderr: %s", c.stderr)
		var rep struct{ Network struct{ Precision string } }
		require.NoError(t, json.Unmarshal([]byte(c.stdout), &rep))
		require.Equal(t, tc.want, rep.Network.Precision, "compare %v", tc.args)
	}
}
