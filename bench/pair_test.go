package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/internal/gemm"
)

// BenchmarkNeighbourPair isolates what limits the parallel engine on narrow layers: two
// neighbouring nodes in lockstep, each of which per step takes the other's last message
// as its input, multiplies it by its own width x width weights (batch 64, as an input VJP
// does) and sends the product back. Nothing else runs, so on two cores the pair could
// take the time of one product per step.
//
// engine=sequential does both nodes' products on one goroutine with no messages: the
// arithmetic alone. engine=parallel runs each node on its own goroutine over a pcnet
// link with one buffer per direction. ns/step is the time of one step of both nodes; on
// one core the difference between the two is the cost of the step's two hand-offs, on two
// cores parallel/sequential shows how much of the step the two nodes overlap (0.5 would
// be all of it).
func BenchmarkNeighbourPair(b *testing.B) {
	for _, eng := range []string{"sequential", "parallel"} {
		for _, w := range []int{64, 256} {
			b.Run(fmt.Sprintf("engine=%s/width=%d", eng, w), func(b *testing.B) {
				benchPair(b, newPair(w), eng)
			})
		}
	}
}

const pairBatch = 64

// pairNode is one node of the pair: its input (batch x width), weights and product.
type pairNode struct {
	in, w, out []float64
}

type pair struct {
	width int
	nodes [2]pairNode
}

func newPair(width int) *pair {
	rng := rand.New(rand.NewPCG(3, uint64(width)))
	fill := func(n int, scale float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = scale * (2*rng.Float64() - 1)
		}
		return s
	}
	p := &pair{width: width}
	for i := range p.nodes {
		// Weights of norm below one, so that the values stay bounded however long it runs.
		p.nodes[i] = pairNode{
			in:  fill(pairBatch*width, 1),
			w:   fill(width*width, 1/float64(width)),
			out: make([]float64, pairBatch*width),
		}
	}
	return p
}

// step is a node's arithmetic: out = in W.
func (p *pair) step(n *pairNode) {
	w := p.width
	gemm.Gemm(false, false, pairBatch, w, w, 1, n.in, w, n.w, w, 0, n.out, w)
}

// sequential runs the pair for the given steps on the calling goroutine.
func (p *pair) sequential(steps int) {
	for range steps {
		p.step(&p.nodes[0])
		p.step(&p.nodes[1])
		copy(p.nodes[1].in, p.nodes[0].out)
		copy(p.nodes[0].in, p.nodes[1].out)
	}
}

// link makes the pair's link, with one buffer per direction as pcnet's engine has.
func (p *pair) link() (*channels.Link[float64], error) {
	return channels.NewInProcess[float64](1).Link(0, pairBatch, p.width, pairBatch, p.width)
}

// parallel runs the pair for the given steps over l, the upper node on a goroutine of its
// own that it waits for.
func (p *pair) parallel(ctx context.Context, l *channels.Link[float64], steps int) error {
	w := p.width
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// run is one node: each step it multiplies, sends the product and takes the other
	// node's product as its next input.
	run := func(n *pairNode, kind channels.Kind, send channels.Sender[float64], recv channels.Receiver[float64]) error {
		for t := range steps {
			p.step(n)
			buf, err := send.Acquire(ctx, pairBatch, w)
			if err != nil {
				return err
			}
			copy(buf.Value(), n.out)
			if err := send.Send(ctx, channels.Message[float64]{Kind: kind, Step: t, Buf: buf}); err != nil {
				return err
			}
			m, err := recv.Recv(ctx)
			if err != nil {
				return err
			}
			copy(n.in, m.Buf.Value())
			recv.Release(m)
		}
		return nil
	}
	var wg sync.WaitGroup
	var upperErr error
	wg.Go(func() {
		if upperErr = run(&p.nodes[1], channels.Error, l.DownSend, l.UpRecv); upperErr != nil {
			cancel() // the lower node may be waiting for the upper one
		}
	})
	lowerErr := run(&p.nodes[0], channels.Prediction, l.UpSend, l.DownRecv)
	if lowerErr != nil {
		cancel()
	}
	wg.Wait()
	if lowerErr != nil {
		lowerErr = fmt.Errorf("neighbour pair: lower node: %w", lowerErr)
	}
	if upperErr != nil {
		upperErr = fmt.Errorf("neighbour pair: upper node: %w", upperErr)
	}
	return errors.Join(lowerErr, upperErr)
}

func benchPair(b *testing.B, p *pair, engine string) {
	p.step(&p.nodes[0]) // the product's workspace
	l, err := p.link()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if engine == "sequential" {
		p.sequential(b.N)
	} else if err := p.parallel(context.Background(), l, b.N); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/step")
}

// BenchmarkWakeIdleCore measures how long a goroutine that a busy goroutine wakes waits
// before it runs while another core is idle: the latency of a hand-off between cores when
// the receiver has parked, as a PC node's lower neighbour has while it waits for an error.
// The waker sends the time and keeps computing (it spins for 500 µs, far longer than the
// wait should be), as a node does after sending its error down, so the woken goroutine runs
// only once the idle core picks it up. Go's scheduler queues it on the waker's core and
// wakes an idle core, which has to wake its thread and then steal it.
//
// wake-ns is the median wait; late-% the share of wakes the idle core never picked up, so
// that the goroutine ran only when the waker stopped. It needs two cores and is skipped on
// one.
func BenchmarkWakeIdleCore(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two cores")
	}
	const busy = 500 * time.Microsecond
	sent := make(chan time.Time)
	waited := make(chan time.Duration)
	go func() {
		for t := range sent {
			waited <- time.Since(t)
		}
	}()
	defer close(sent)
	waits := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		time.Sleep(busy) // the receiver parks and its core goes idle
		sent <- time.Now()
		for start := time.Now(); time.Since(start) < busy; {
		}
		waits = append(waits, <-waited)
	}
	b.StopTimer()
	slices.Sort(waits)
	late := len(waits) - sort.Search(len(waits), func(i int) bool { return waits[i] >= busy })
	b.ReportMetric(float64(waits[len(waits)/2].Nanoseconds()), "wake-ns")
	b.ReportMetric(100*float64(late)/float64(len(waits)), "late-%")
}
