package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// BenchmarkLayerOp times the per-layer operations the model of the parallel engine is
// built from (see model.go), each as a node of the engine does it: a forward with its
// derivative; an input VJP with the gating, the FPA error step and the copy of the error
// into the message for the node below; a weight VJP with the gating, the negation of the
// update and the SGD step.
//
// A node finds its weights where the network left them: in a network of several layers
// the others' weights and buffers have passed through the cache since the node's last
// step. So each op cycles through LayerCopies distinct layers of the shape, whose weights
// exceed the L2 cache from width 256 on (as a network's do), and stay in it at width 64
// (as a network's do). Timing one layer over and over would keep its weights in L2 and
// make the model optimistic at the larger widths.
func BenchmarkLayerOp(b *testing.B) {
	shapes := map[int][][2]int{}
	for _, w := range widths {
		shapes[w] = [][2]int{{784, w}, {w, w}, {w, 10}}
	}
	for _, batch := range batches {
		for _, w := range widths {
			for _, sh := range shapes[w] {
				for _, op := range []string{"forward", "inputvjp", "weightvjp"} {
					b.Run(fmt.Sprintf("op=%s/in=%d/out=%d/batch=%d", op, sh[0], sh[1], batch), func(b *testing.B) {
						benchLayerOp(b, op, sh[0], sh[1], batch)
					})
				}
			}
		}
	}
}

// opLayer is one layer with the buffers a node keeps for it.
type opLayer struct {
	d                             *layer.Dense[float64]
	v, c, y, deriv, delta, jte, e *tensor.Matrix[float64]
	msg                           *tensor.Matrix[float64]
	g, neg                        *layer.Grad[float64]
	opt, optB                     *optim.State[float64]
}

// opLayers keeps the layers of the last shape: a sub-benchmark's function runs several
// times (b.N ramps up, every -cpu value, every op of the shape) and first touching the
// memory of eight 1024-wide layers would take longer than timing them.
var opLayers struct {
	in, out, batch int
	ls             []*opLayer
}

func benchLayerOp(b *testing.B, op string, in, out, batch int) {
	if opLayers.in != in || opLayers.out != out || opLayers.batch != batch {
		opLayers.ls = nil // let the last shape's memory go first
		opLayers.ls = newOpLayers(b, in, out, batch)
		opLayers.in, opLayers.out, opLayers.batch = in, out, batch
	}
	ls := opLayers.ls
	b.ReportAllocs()
	b.ResetTimer()
	switch op {
	case "forward":
		for i := range b.N {
			l := ls[i%LayerCopies]
			l.d.Forward(l.y, l.deriv, l.v)
		}
	case "inputvjp":
		for i := range b.N {
			l := ls[i%LayerCopies]
			layer.Gate(l.delta, l.deriv, l.c)
			l.d.InputVJP(l.jte, l.delta)
			layer.FixedPredictionErrorStep(l.e, l.jte, 0.5)
			layer.ScaleInto(l.msg, l.e, 1)
		}
	case "weightvjp":
		for i := range b.N {
			l := ls[i%LayerCopies]
			layer.Gate(l.delta, l.deriv, l.c)
			l.d.WeightVJP(l.g.W, l.g.B, l.v, l.delta)
			p, g, neg := l.d.Params(), l.g.Params(), l.neg.Params()
			for k := range p {
				for j, v := range g[k] {
					neg[k][j] = -v
				}
			}
			l.opt.Step(p[0], neg[0])
			l.optB.Step(p[1], neg[1])
		}
	}
}

func newOpLayers(b *testing.B, in, out, batch int) []*opLayer {
	rng := rand.New(rand.NewPCG(1, 0))
	rnd := func(r, c int) *tensor.Matrix[float64] {
		m := tensor.New[float64](r, c, nil)
		for i := range m.Data {
			m.Data[i] = rng.Float64() - 0.5
		}
		return m
	}
	ls := make([]*opLayer, LayerCopies)
	for i := range ls {
		d, err := layer.NewDense[float64](in, out, layer.Tanh)
		if err != nil {
			b.Fatal(err)
		}
		d.InitPyTorch(rng)
		l := &opLayer{
			d: d, v: rnd(batch, in), c: rnd(batch, out),
			y: tensor.New[float64](batch, out, nil), deriv: tensor.New[float64](batch, out, nil), delta: tensor.New[float64](batch, out, nil),
			jte: tensor.New[float64](batch, in, nil), e: rnd(batch, in), msg: tensor.New[float64](batch, in, nil),
			g: layer.NewGrad(d), neg: layer.NewGrad(d),
			opt: SGD.NewState(in * out), optB: SGD.NewState(out),
		}
		d.Forward(l.y, l.deriv, l.v)
		ls[i] = l
	}
	return ls
}
