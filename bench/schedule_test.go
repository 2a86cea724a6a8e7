package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pcnet/pcnet/internal/pairbench"
	"github.com/pcnet/pcnet/internal/straggler"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/pcnet/pcnet/train"
)

// The event schedule's benchmarks. Each pairs two computations in one loop
// (internal/pairbench) and times each: the ratio of their totals is steady under a host
// whose speed drifts, where the ratio of two separately timed benchmarks is not.

// pairBlock is the number of calls of one computation in a row.
const pairBlock = 4

// paired times a and c, b.N calls each (pairbench.Run), after a warm-up of two calls each.
func paired(b *testing.B, a, c func()) (ta, tc time.Duration) {
	b.Helper()
	for range 2 { // buffers, caches
		a()
		c()
	}
	return pairbench.Run(b, pairBlock, a, c)
}

// pcUpdate returns a function that runs one Learn of s, in s.Precision, on its own
// network, closed when the benchmark ends; each of adjust changes the configuration first.
func pcUpdate(b *testing.B, s Setting, adjust ...func(*pcnet.Config)) func() {
	b.Helper()
	if s.Precision == F32 {
		return pcUpdateIn[float32](b, s, adjust...)
	}
	return pcUpdateIn[float64](b, s, adjust...)
}

func pcUpdateIn[T tensor.Float](b *testing.B, s Setting, adjust ...func(*pcnet.Config)) func() {
	b.Helper()
	layers, x, labels := Problem[T](s, 1)
	cfg := s.PCConfig()
	for _, f := range adjust {
		f(&cfg)
	}
	net, err := pcnet.New(context.Background(), layers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { net.Close() })
	return func() {
		if _, err := net.Learn(context.Background(), x, labels); err != nil {
			b.Fatal(err)
		}
	}
}

// withGamma sets the step size.
func withGamma(gamma float64) func(*pcnet.Config) { return func(c *pcnet.Config) { c.Gamma = gamma } }

// bpStep returns a function that runs one backprop step (BP) on the network of s, in
// s.Precision.
func bpStep(b *testing.B, s Setting) func() {
	b.Helper()
	if s.Precision == F32 {
		return bpStepIn[float32](b, s)
	}
	return bpStepIn[float64](b, s)
}

func bpStepIn[T tensor.Float](b *testing.B, s Setting) func() {
	b.Helper()
	layers, x, labels := Problem[T](s, 1)
	bp, err := train.NewBP(layers, layer.NLL{}, SGD)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	return func() {
		if _, err := bp.Step(ctx, x, labels); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventVsBP pairs an FPA-PC update (gamma 1, T = H) under the event schedule
// with a backprop step on the same network, in each precision: the update computes
// backprop's 2H + 1 products, so pc/bp is what the rest of PC costs (messages,
// elementwise steps, hand-offs).
func BenchmarkEventVsBP(b *testing.B) {
	for _, prec := range Precisions {
		for _, eng := range []pcnet.Engine{pcnet.Sequential, pcnet.Parallel} {
			for _, w := range widths {
				for _, h := range depths {
					s := Setting{Precision: prec, Algorithm: spec.FPA, Engine: eng, Schedule: pcnet.Event, Hidden: h, Width: w, Batch: 64}
					b.Run(fmt.Sprintf("precision=%s/engine=%s/H=%d/width=%d/batch=%d", prec, eng, h, w, s.Batch), func(b *testing.B) {
						pc, bp := paired(b, pcUpdate(b, s), bpStep(b, s))
						b.ReportMetric(float64(pc.Nanoseconds()), "pc-ns/op")
						b.ReportMetric(float64(bp.Nanoseconds()), "bp-ns/op")
						b.ReportMetric(float64(pc)/float64(bp), "pc/bp")
					})
				}
			}
		}
	}
}

// BenchmarkScheduleSaving pairs the event and the dense schedule on the same update, T =
// H, and reports the measured time ratio next to the counted one (products computed
// under event / under dense).
func BenchmarkScheduleSaving(b *testing.B) {
	cases := []struct {
		v     spec.Algorithm
		gamma float64
	}{{spec.FPA, 1}, {spec.FPA, 0.5}, {spec.PC, 0.1}, {spec.ZIL, 1}}
	for _, c := range cases {
		for _, eng := range []pcnet.Engine{pcnet.Sequential, pcnet.Parallel} {
			for _, w := range []int{64, 256} {
				for _, h := range []int{2, 4, 8, 16} {
					name := fmt.Sprintf("variant=%s/gamma=%g/engine=%s/H=%d/width=%d/batch=64", c.v, c.gamma, eng, h, w)
					b.Run(name, func(b *testing.B) {
						s := Setting{Algorithm: c.v, Engine: eng, Hidden: h, Width: w, Batch: 64}
						ev, de := s, s
						ev.Schedule, de.Schedule = pcnet.Event, pcnet.Dense
						counted := countedRatio(b, ev, c.gamma)
						e, d := paired(b, pcUpdate(b, ev, withGamma(c.gamma)), pcUpdate(b, de, withGamma(c.gamma)))
						b.ReportMetric(float64(e)/float64(d), "event/dense")
						b.ReportMetric(counted, "counted-event/dense")
					})
				}
			}
		}
	}
}

// countedRatio is the share of the dense schedule's products that s computes under the
// event schedule, from one observed update.
func countedRatio(b *testing.B, s Setting, gamma float64) float64 {
	b.Helper()
	layers, x, labels := s.Problem(1)
	cfg := s.PCConfig()
	cfg.Gamma = gamma
	c := &Counter{}
	cfg.Observer = c
	net, err := pcnet.New(context.Background(), layers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	if _, err := net.Learn(context.Background(), x, labels); err != nil {
		b.Fatal(err)
	}
	return float64(c.VJPs.Load()) / float64(c.VJPs.Load()+c.SkippedVJPs.Load())
}

// BenchmarkSkipOverhead pairs the two schedules where nothing is to be skipped after the
// feed-forward pass: what the event schedule's bookkeeping costs. Standard PC at H = 1,
// T = 1 computes every product under both schedules. At T = 0 the event schedule still
// skips the weight VJPs of the layers below the top, whose cotangent is zero at step 0
// (Theorem 1), so its ratio shows that saving too.
func BenchmarkSkipOverhead(b *testing.B) {
	cases := []struct {
		v        spec.Algorithm
		gamma    float64
		h, steps int
	}{{spec.PC, 0.1, 1, 1}, {spec.FPA, 1, 1, 0}, {spec.FPA, 1, 8, 0}}
	for _, c := range cases {
		for _, w := range []int{64, 256} {
			for _, eng := range []pcnet.Engine{pcnet.Sequential, pcnet.Parallel} {
				name := fmt.Sprintf("variant=%s/engine=%s/H=%d/T=%d/width=%d/batch=64", c.v, eng, c.h, c.steps, w)
				b.Run(name, func(b *testing.B) {
					s := Setting{Algorithm: c.v, Engine: eng, Hidden: c.h, Width: w, Batch: 64}
					upd := func(sched pcnet.Schedule) func() {
						s := s
						s.Schedule = sched
						return pcUpdate(b, s, withGamma(c.gamma), func(cfg *pcnet.Config) { cfg.Steps = c.steps })
					}
					e, d := paired(b, upd(pcnet.Event), upd(pcnet.Dense))
					b.ReportMetric(float64(e)/float64(d), "event/dense")
				})
			}
		}
	}
}

// BenchmarkStraggler makes the products of one hidden layer (layer H/2) slower by a fixed
// delay and reports how many delays an update grows by: the dense schedule computes that
// layer's input VJP at every step, so a slow layer paces every step (about T + 1
// delays); the event schedule computes it once, plus the weight VJP (2 delays).
func BenchmarkStraggler(b *testing.B) {
	const h, w = 8, 64
	for _, delay := range []time.Duration{200 * time.Microsecond, time.Millisecond} {
		for _, eng := range []pcnet.Engine{pcnet.Sequential, pcnet.Parallel} {
			for _, sched := range []pcnet.Schedule{pcnet.Dense, pcnet.Event} {
				s := Setting{Algorithm: spec.FPA, Engine: eng, Schedule: sched, Hidden: h, Width: w, Batch: 64}
				b.Run(fmt.Sprintf("delay=%v/engine=%s/schedule=%s/H=%d/width=%d/batch=64", delay, eng, sched, h, w), func(b *testing.B) {
					slow, fast := pcUpdate(b, s), pcUpdate(b, s)
					withDelay := func() {
						straggler.Set(h/2, delay)
						defer straggler.Clear()
						slow()
					}
					ts, tf := paired(b, withDelay, fast)
					b.ReportMetric(float64(ts-tf)/float64(delay), "delays/op")
					b.ReportMetric(float64(ts.Nanoseconds()), "slow-ns/op")
					b.ReportMetric(float64(tf.Nanoseconds()), "fast-ns/op")
				})
			}
		}
	}
}

// BenchmarkBPSpeedupPaired pairs a backprop step on one core (GOMAXPROCS 1) with the
// same step on two (GOMAXPROCS 2), in one loop (internal/pairbench), and reports the
// speed-up t1/t2. Timed apart, at -cpu 1 and -cpu 2, the two medians carry whatever the
// host did in between: on a 2-core VM whose host moved two-core times by half within one
// run, the ratio of those medians swung from 1.41 to 1.64 for one binary. Paired, both
// sides see the same host. The product pool reads GOMAXPROCS at each call (internal/gemm),
// so a block of calls runs on the cores it was given. It needs two CPUs.
func BenchmarkBPSpeedupPaired(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs 2 CPUs")
	}
	for _, prec := range Precisions {
		for _, w := range []int{256, 1024} {
			s := Setting{Precision: prec, Hidden: 8, Width: w, Batch: 64}
			b.Run(s.Name(), func(b *testing.B) {
				old := runtime.GOMAXPROCS(0)
				b.Cleanup(func() { runtime.GOMAXPROCS(old) })
				step := bpStep(b, s)
				on := func(procs int) func() {
					return func() {
						runtime.GOMAXPROCS(procs)
						step()
					}
				}
				t1, t2 := paired(b, on(1), on(2))
				b.ReportMetric(float64(t1.Nanoseconds()), "1core-ns/op")
				b.ReportMetric(float64(t2.Nanoseconds()), "2core-ns/op")
				b.ReportMetric(float64(t1)/float64(t2), "speedup")
			})
		}
	}
}
