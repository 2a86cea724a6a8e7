package experiments

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
)

// Replot redraws the plots of a finished run from the CSV files it left in opts.OutDir,
// training and measuring nothing: for a change to how a figure is drawn, where the run's
// cache (OutDir/cache, not committed) is gone and a rerun would take an hour. It redraws
// cosine's and accuracy's plots (from cosine.csv, cosine_trace.csv, accuracy.csv,
// accuracy_curves.csv and bp_reference.csv) and online's plots against learning rate
// (from online.csv); name is one of those experiments or "all". The markdown and CSV
// files stay as they are.
//
// The CSV files hold everything those plots show but one thing: cosine_trace.csv keeps
// about 100 of each point's cosines along the first epoch, so a redrawn cosine_trace.png
// draws those where a run draws every compared batch.
func Replot(name string, opts Options) error {
	if opts.OutDir == "" {
		return errors.New("experiments: Options.OutDir is empty: name the folder that holds the run's CSV files")
	}
	preset := FullPreset()
	if opts.Quick {
		preset = QuickPreset()
	}
	if opts.Preset != nil {
		preset = *opts.Preset
	}
	if err := preset.validate(); err != nil {
		return err
	}
	env := &runEnv{opts: opts, preset: preset}
	grid := name == "all" || name == "cosine" || name == "accuracy"
	if !grid && name != "online" {
		return fmt.Errorf("experiments: Replot %q: want cosine, accuracy, online or all (the others draw nothing from a grid of runs)", name)
	}
	if grid {
		g, mean, atInit, err := gridFromCSV(env)
		if err != nil {
			return err
		}
		if name != "accuracy" {
			if err := drawCosine(env, g, mean, atInit); err != nil {
				return err
			}
		}
		if name != "cosine" {
			if err := drawAccuracy(env, g); err != nil {
				return err
			}
		}
	}
	if name == "all" || name == "online" {
		o, err := onlineFromCSV(env)
		if err != nil {
			return err
		}
		return drawOnlineRates(env, o)
	}
	return nil
}

// csvRows reads a CSV file written by render.Table into maps from column to value.
func csvRows(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: empty, no header", path)
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make(map[string]string, len(rec))
		for i, col := range recs[0] {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// csvFields parses a CSV row's columns, naming the file, row and column that are wrong.
type csvFields struct {
	path string
	row  int
	err  error
}

func (c *csvFields) float(r map[string]string, col string) float64 {
	s, ok := r[col]
	if !ok {
		c.fail(col, "missing")
		return 0
	}
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		c.fail(col, fmt.Sprintf("%q is not a number", s))
	}
	return v
}

func (c *csvFields) int(r map[string]string, col string) int {
	v := c.float(r, col)
	if v != float64(int(v)) {
		c.fail(col, fmt.Sprintf("%v is not an integer", v))
	}
	return int(v)
}

func (c *csvFields) fail(col, why string) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: row %d, column %s: %s", c.path, c.row+2, col, why)
	}
}

// gridFromCSV rebuilds the grid's results as far as the plots read them, and the cosine
// statistics that cosine.csv holds ready-made.
func gridFromCSV(env *runEnv) (g *gridResults, mean, atInit func(*pointResult) float64, err error) {
	g = &gridResults{preset: env.preset, fpa: map[gridKey]*pointResult{}, bp: map[int]*pointResult{}}
	fpa := func(h int, gamma float64, steps int) *pointResult {
		k := gridKey{h, gamma, steps}
		if g.fpa[k] == nil {
			g.fpa[k] = &pointResult{Spec: pointSpec{Algo: algoFPA, Hidden: h, Gamma: gamma, Steps: steps, CosineEvery: 1}}
		}
		return g.fpa[k]
	}
	bp := func(h int) *pointResult {
		if g.bp[h] == nil {
			g.bp[h] = &pointResult{Spec: pointSpec{Algo: algoBP, Hidden: h}}
		}
		return g.bp[h]
	}
	means, inits := map[*pointResult]float64{}, map[*pointResult]float64{}
	// Ratios that give the same T train one network, whose rows repeat: the first counts.
	firstRatio := map[*pointResult]float64{}
	first := func(pt *pointResult, ratio float64) bool {
		if r, ok := firstRatio[pt]; ok {
			return r == ratio
		}
		firstRatio[pt] = ratio
		return true
	}
	read := func(file string, each func(c *csvFields, r map[string]string)) error {
		rows, err := csvRows(env.path(file))
		if err != nil {
			return err
		}
		c := &csvFields{path: env.path(file)}
		for i, r := range rows {
			c.row = i
			each(c, r)
			if c.err != nil {
				return c.err
			}
		}
		return nil
	}
	for _, f := range []struct {
		file string
		each func(c *csvFields, r map[string]string)
	}{
		{"cosine.csv", func(c *csvFields, r map[string]string) {
			pt := fpa(c.int(r, "hidden"), c.float(r, "gamma"), c.int(r, "steps"))
			means[pt], inits[pt] = c.float(r, "mean_cosine"), c.float(r, "cosine_at_init")
		}},
		{"cosine_trace.csv", func(c *csvFields, r map[string]string) {
			pt := fpa(c.int(r, "hidden"), c.float(r, "gamma"), c.int(r, "steps"))
			if !first(pt, c.float(r, "ratio")) {
				return
			}
			if batch := c.int(r, "batch"); len(pt.Cosine) == 1 {
				pt.Spec.CosineEvery = batch // the trace's stride, in batches
			}
			pt.Cosine = append(pt.Cosine, num(c.float(r, "cosine")))
		}},
		{"accuracy.csv", func(c *csvFields, r map[string]string) {
			pt := fpa(c.int(r, "hidden"), c.float(r, "gamma"), c.int(r, "steps"))
			pt.Test = num(c.float(r, "test_accuracy"))
		}},
		{"bp_reference.csv", func(c *csvFields, r map[string]string) {
			bp(c.int(r, "hidden")).Test = num(c.float(r, "test_accuracy"))
		}},
	} {
		if err := read(f.file, f.each); err != nil {
			return nil, nil, nil, err
		}
	}
	// The curves repeat a network's rows for every ratio of its T too: the first counts.
	firstRatio = map[*pointResult]float64{}
	err = read("accuracy_curves.csv", func(c *csvFields, r map[string]string) {
		var pt *pointResult
		if r["algo"] == algoBP {
			pt = bp(c.int(r, "hidden"))
		} else {
			pt = fpa(c.int(r, "hidden"), c.float(r, "gamma"), c.int(r, "steps"))
			if !first(pt, c.float(r, "ratio")) {
				return
			}
		}
		pt.Val = append(pt.Val, evalPoint{Epoch: c.float(r, "epoch"), Accuracy: num(c.float(r, "val_accuracy")), Loss: num(c.float(r, "val_loss"))})
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := g.complete(); err != nil {
		return nil, nil, nil, err
	}
	lookup := func(m map[*pointResult]float64) func(*pointResult) float64 {
		return func(pt *pointResult) float64 { return m[pt] }
	}
	return g, lookup(means), lookup(inits), nil
}

// complete checks that the grid read back has every point and reference of its preset.
func (g *gridResults) complete() error {
	p := g.preset
	for _, h := range p.Hidden {
		if g.bp[h] == nil || len(g.bp[h].Val) == 0 {
			return fmt.Errorf("experiments: the CSV files hold no BP reference at H=%d of the %s preset", h, p.Name)
		}
		for _, gm := range p.Gammas {
			for _, r := range p.Ratios {
				if pt := g.point(h, gm, r); pt == nil || len(pt.Val) == 0 || len(pt.Cosine) == 0 {
					return fmt.Errorf("experiments: the CSV files lack the grid point H=%d gamma=%g T/H=%g of the %s preset", h, gm, r, p.Name)
				}
			}
		}
	}
	return nil
}

// onlineFromCSV rebuilds the online runs' results as far as the plots against learning
// rate read them.
func onlineFromCSV(env *runEnv) (*onlineResults, error) {
	p := env.preset.Online
	o := &onlineResults{preset: p, runs: map[onlineSpec]*onlineResult{}}
	for i := range p.Seeds {
		o.seeds = append(o.seeds, env.opts.Seed+uint64(i))
	}
	path := env.path("online.csv")
	rows, err := csvRows(path)
	if err != nil {
		return nil, err
	}
	c := &csvFields{path: path}
	for i, r := range rows {
		c.row = i
		s := onlineSpec{Method: r["method"], Batch: c.int(r, "batch"), LR: c.float(r, "lr"), Seed: uint64(c.int(r, "seed"))}
		res := &onlineResult{
			Prequential: num(c.float(r, "prequential_accuracy")),
			LastTenth:   num(c.float(r, "last_tenth_accuracy")),
			Test:        num(c.float(r, "test_accuracy")),
			DivergedAt:  c.int(r, "diverged_at_image"),
		}
		if c.err != nil {
			return nil, c.err
		}
		o.runs[s] = res
	}
	for _, m := range onlineMethods {
		for _, b := range p.Batches {
			for _, lr := range p.rates(m.optimiser) {
				for _, seed := range o.seeds {
					if o.get(m.name, b, lr, seed) == nil {
						return nil, fmt.Errorf("experiments: %s lacks the run %s batch %d lr %g seed %d of the %s preset", path, m.name, b, lr, seed, env.preset.Name)
					}
				}
			}
		}
	}
	return o, nil
}
