package experiments

import (
	"context"
	"fmt"
	"testing"

	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/pcnet"
)

// BenchmarkOnlineRun measures one online run per method, batch size and engine on a
// short stream, and reports the time per image: what the full preset's sizes were
// chosen by (go test -run '^$' -bench OnlineRun -benchtime 1x ./experiments).
func BenchmarkOnlineRun(b *testing.B) {
	data, err := mnist.Load("")
	if err != nil {
		b.Skip(err)
	}
	p := fullOnline()
	for _, batch := range []int{1, 64} {
		images := 2000
		if batch > 1 {
			images = 12800
		}
		stream, test := data.Train.Head(images), data.Test.Head(100)
		for _, m := range onlineMethods {
			engines := []pcnet.Engine{pcnet.Sequential}
			if m.alg.IsPC() {
				engines = append(engines, pcnet.Parallel)
			}
			for _, eng := range engines {
				spec := onlineSpecs(p, []uint64{1}, images, 100)
				var s onlineSpec
				for _, c := range spec {
					if c.Method == m.name && c.Batch == batch {
						s = c
						break
					}
				}
				s.LR = p.rates(m.optimiser)[1]
				b.Run(fmt.Sprintf("%s/B=%d/%s", m.name, batch, eng), func(b *testing.B) {
					for b.Loop() {
						if _, err := onlineRun(context.Background(), stream, test, s, eng, 0); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*images), "µs/image")
				})
			}
		}
	}
}
