package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pcnet/pcnet/internal/gemm"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

var (
	depths  = []int{1, 2, 4, 8, 16, 32}
	widths  = []int{64, 256, 1024}
	batches = []int{64, 1}
)

// BenchmarkBPStep times one backprop training step (forward, backward, SGD with momentum)
// in each precision. cpu-ns/op is the process's CPU time per step, every thread: at -cpu 1
// the step's own time, which the other processes of a shared machine disturb far less than
// ns/op; at more cores the work of all of them, so that cpu-ns/op over ns/op is the cores
// the step kept busy.
func BenchmarkBPStep(b *testing.B) {
	for _, prec := range Precisions {
		for _, batch := range batches {
			for _, w := range widths {
				for _, h := range depths {
					s := Setting{Precision: prec, Hidden: h, Width: w, Batch: batch}
					b.Run(s.Name(), func(b *testing.B) {
						step := bpStep(b, s)
						step() // allocates the workspace
						b.ReportAllocs()
						b.ResetTimer()
						t0 := processCPU()
						for range b.N {
							step()
						}
						b.ReportMetric(float64((processCPU()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op")
						b.ReportMetric(float64(2*h+1), "vjps/op") // H input and H+1 weight VJPs
					})
				}
			}
		}
	}
}

func BenchmarkPCUpdate(b *testing.B) {
	for _, prec := range Precisions {
		for _, v := range []spec.Algorithm{spec.FPA, spec.PC, spec.ZIL} {
			for _, eng := range []pcnet.Engine{pcnet.Parallel, pcnet.Sequential} {
				for _, sched := range []pcnet.Schedule{pcnet.Dense, pcnet.Event} {
					for _, batch := range batches {
						for _, w := range widths {
							for _, h := range depths {
								s := Setting{Precision: prec, Algorithm: v, Engine: eng, Schedule: sched, Hidden: h, Width: w, Batch: batch}
								b.Run(s.Name(), func(b *testing.B) {
									if prec == F32 {
										benchPCUpdate[float32](b, s)
									} else {
										benchPCUpdate[float64](b, s)
									}
								})
							}
						}
					}
				}
			}
		}
	}
}

func benchPCUpdate[T tensor.Float](b *testing.B, s Setting) {
	const observed = 1
	c, err := Observe(s, observed)
	if err != nil {
		b.Fatal(err)
	}
	layers, x, labels := Problem[T](s, 1)
	net, err := pcnet.New(context.Background(), layers, s.PCConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	ctx := context.Background()
	// Two warm-up updates, each after a collection. The first makes the buffers for this
	// batch size; the collection after it starts none during the timed loop, and the
	// second update refills the runtime's caches of channel waiters, which a collection
	// empties. Otherwise the refills count as allocations: a few per update at the
	// largest settings, where the loop runs once or twice.
	for range 2 {
		runtime.GC()
		if _, err := net.Learn(ctx, x, labels); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := net.Learn(ctx, x, labels); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(c.Steps.Load())/observed, "steps/op")
	b.ReportMetric(float64(c.VJPs.Load())/observed, "vjps/op")
	b.ReportMetric(float64(c.Messages.Load())/observed, "msgs/op")
	b.ReportMetric(float64(c.Wait.Load())/1e9/observed, "wait-s/op")
}

// TestBenchmarkSettingsRun runs one small setting of each benchmark once, so the
// benchmark code is exercised by the ordinary test suite.
func TestBenchmarkSettingsRun(t *testing.T) {
	for _, prec := range Precisions {
		for _, v := range []spec.Algorithm{spec.FPA, spec.PC, spec.ZIL} {
			for _, sched := range []pcnet.Schedule{pcnet.Dense, pcnet.Event} {
				s := Setting{Precision: prec, Algorithm: v, Engine: pcnet.Parallel, Schedule: sched, Hidden: 2, Width: 16, Batch: 4}
				c, err := Observe(s, 2)
				if err != nil {
					t.Fatal(err)
				}
				// An update costs H·T + H + 1 products under the dense schedule (pcnet's docs);
				// the event schedule skips or reuses some of them, and computes 2H + 1 under
				// FPA with gamma 1, T = H.
				want := int64(2 * (2*2 + 2 + 1))
				if got := c.VJPs.Load() + c.SkippedVJPs.Load(); got != want {
					t.Fatalf("%s: %d VJPs computed or skipped in two updates, want %d", s.Name(), got, want)
				}
				if sched == pcnet.Event && v == spec.FPA {
					want = 2 * (2*2 + 1)
				}
				if sched == pcnet.Dense || v == spec.FPA {
					if got := c.VJPs.Load(); got != want {
						t.Fatalf("%s: %d VJPs computed in two updates, want %d", s.Name(), got, want)
					}
				}
			}
		}
	}
}

// BenchmarkBPKernel is BenchmarkBPStep on the networks of the PyTorch comparison, once per
// matrix kernel this build offers.
func BenchmarkBPKernel(b *testing.B) {
	defer layer.UseKernel(layer.CurrentKernel())
	for _, k := range []layer.Kernel{layer.KernelSIMD, layer.KernelGonum, layer.KernelOpenBLAS} {
		if _, err := layer.UseKernel(k); err != nil {
			continue // not in this build (OpenBLAS needs -tags openblas) or this CPU
		}
		for _, n := range [][2]int{{2, 64}, {8, 64}, {8, 1024}} {
			s := Setting{Hidden: n[0], Width: n[1], Batch: 64}
			b.Run("kernel="+k.String()+"/"+s.Name(), func(b *testing.B) {
				layers, x, labels := s.Problem(1)
				bp, err := train.NewBP(layers, layer.NLL{}, SGD)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				bp.Step(ctx, x, labels)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					bp.Step(ctx, x, labels)
				}
			})
		}
	}
}

// TestKernelName names the matrix kernel the benchmarks run on; bench/run.sh copies the
// logged line into the report. The benchmarks never switch kernels, so that is the
// process's default: internal/gemm's where it has an assembly micro-kernel for the CPU
// (avx2-6x8 or avx512-8x16), gonum's where it has only its portable go-4x4.
func TestKernelName(t *testing.T) {
	k, name := layer.CurrentKernel(), gemm.KernelName()
	require.Equal(t, layer.DefaultKernel().String(), k.String(), "the kernel the benchmarks run on")
	if gemm.HasAssembly() {
		require.Equal(t, layer.KernelSIMD.String(), k.String())
		require.Contains(t, []string{"avx2-6x8", "avx512-8x16"}, name)
	} else {
		require.Equal(t, layer.KernelGonum.String(), k.String())
		require.Equal(t, "go-4x4", name)
	}
	t.Logf("kernel: %s (%s)", k, name)
}

// BenchmarkEngineOverhead measures what the parallel engine adds to the sequential one's
// arithmetic: each op is one update on each engine, on two copies of the same network,
// timed back to back (in alternating order) so that the host's drift falls on both.
// The engines compute the same values bit for bit, so at -cpu 1 the difference is
// the hand-offs and goroutine switches alone; at more cores it includes what the
// parallelism gains. Reported: overhead-% = (parallel - sequential) / sequential, and
// the difference per message sent.
func BenchmarkEngineOverhead(b *testing.B) {
	for _, w := range widths {
		for _, h := range []int{2, 8} {
			// The dense schedule: the report's model of the engine is of its task graph.
			s := Setting{Algorithm: spec.FPA, Schedule: pcnet.Dense, Hidden: h, Width: w, Batch: 64}
			b.Run(fmt.Sprintf("variant=%s/H=%d/width=%d/batch=%d", s.Algorithm, h, w, s.Batch), func(b *testing.B) {
				benchEngineOverhead(b, s)
			})
		}
	}
}

func benchEngineOverhead(b *testing.B, s Setting) {
	ctx := context.Background()
	var nets [2]*pcnet.Network[float64] // sequential, parallel
	for i, eng := range []pcnet.Engine{pcnet.Sequential, pcnet.Parallel} {
		s.Engine = eng
		layers, _, _ := s.Problem(1)
		net, err := pcnet.New(ctx, layers, s.PCConfig())
		if err != nil {
			b.Fatal(err)
		}
		defer net.Close()
		nets[i] = net
	}
	_, x, labels := s.Problem(1)
	c, err := Observe(s, 1) // the messages of one update, counted on a third network
	if err != nil {
		b.Fatal(err)
	}
	msgs := float64(c.Messages.Load())
	var spent [2]time.Duration
	learn := func(i int) {
		t0 := time.Now()
		_, err := nets[i].Learn(ctx, x, labels)
		spent[i] += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
	}
	learn(0) // warm-up: buffers for this batch size
	learn(1)
	spent = [2]time.Duration{}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		first := n % 2
		learn(first)
		learn(1 - first)
		n++
	}
	b.StopTimer()
	seq, par := spent[0].Seconds()/float64(n), spent[1].Seconds()/float64(n)
	b.ReportMetric(100*(par-seq)/seq, "overhead-%")
	b.ReportMetric((par-seq)*1e9/msgs, "ns/msg")
	b.ReportMetric(seq*1e9, "seq-ns/update")
	b.ReportMetric(par*1e9, "par-ns/update")
}
