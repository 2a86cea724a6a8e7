package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"gonum.org/v1/gonum/mat"
)

// BenchmarkLayerOp times the per-layer operations the model of the parallel engine is
// built from (see model.go): a forward with its derivative, an input VJP including the
// gating and the FPA error step, and a weight VJP including the SGD step.
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

func benchLayerOp(b *testing.B, op string, in, out, batch int) {
	rng := rand.New(rand.NewPCG(1, 0))
	d, err := layer.NewDense(in, out, layer.Tanh)
	if err != nil {
		b.Fatal(err)
	}
	d.InitPyTorch(rng)
	rnd := func(r, c int) *mat.Dense {
		m := mat.NewDense(r, c, nil)
		for i := range m.RawMatrix().Data {
			m.RawMatrix().Data[i] = rng.Float64() - 0.5
		}
		return m
	}
	v, c := rnd(batch, in), rnd(batch, out)
	y, deriv, delta := mat.NewDense(batch, out, nil), mat.NewDense(batch, out, nil), mat.NewDense(batch, out, nil)
	d.Forward(y, deriv, v)
	jte, e := mat.NewDense(batch, in, nil), rnd(batch, in)
	g := layer.NewGrad(d)
	opt := SGD.NewState(in * out)
	optB := SGD.NewState(out)
	b.ReportAllocs()
	b.ResetTimer()
	switch op {
	case "forward":
		for range b.N {
			d.Forward(y, deriv, v)
		}
	case "inputvjp":
		for range b.N {
			layer.Gate(delta, deriv, c)
			d.InputVJP(jte, delta)
			layer.FixedPredictionErrorStep(e, jte, 0.5)
		}
	case "weightvjp":
		p := d.Params()
		for range b.N {
			layer.Gate(delta, deriv, c)
			d.WeightVJP(g.W, g.B, v, delta)
			gp := g.Params()
			opt.Step(p[0], gp[0])
			optB.Step(p[1], gp[1])
		}
	}
}
