package experiments_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/pcnet/pcnet/experiments"
)

func ExampleSteps() {
	for _, h := range []int{2, 4, 16} {
		fmt.Printf("H=%-2d", h)
		for _, r := range []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 4} {
			fmt.Printf(" %3d", experiments.Steps(r, h))
		}
		fmt.Println()
	}
	// Output:
	// H=2    1   1   1   2   3   4   8
	// H=4    1   2   3   4   6   8  16
	// H=16   4   8  12  16  24  32  64
}

func ExampleRun() {
	dir, err := os.MkdirTemp("", "pcnet-experiments")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// Theorem 1 on two small networks, with one batch each.
	p := experiments.QuickPreset()
	p.WavefrontHidden, p.WavefrontHeatHidden, p.WavefrontBatches = []int{2, 3}, 3, 1
	p.WavefrontStepsPerLayer = 2
	opts := experiments.Options{OutDir: dir, Preset: &p, Seed: 1}
	// A deadline bounds the run: the two networks take well under a second.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := experiments.Run(ctx, "wavefront", opts, nil); err != nil {
		log.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	fmt.Println(experiments.Names())
	// Output:
	// wavefront.csv
	// wavefront.md
	// wavefront_fpa.png
	// wavefront_pc.png
	// wavefront_table.csv
	// wavefront_zil.png
	// [cosine accuracy wavefront complexity online depth all]
}
