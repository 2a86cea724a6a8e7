package session

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
	"github.com/stretchr/testify/require"
)

// tinyEpoch is the epoch of a run at H = 2 with every field set.
func tinyEpoch(epoch int) (train.EpochInfo, *spec.Run, metrics.Summary, *EnergyTally) {
	r := spec.Default()
	r.Sizes = []int{784, 8, 8, 10}
	r.PC.Steps = 2
	e := train.EpochInfo{
		Epoch: epoch, TrainLoss: 0.5, ValLoss: 0.4, ValAccuracy: 0.875, MeanCosine: 0.99,
		MeanLayerCosine: []float64{0.9, -0.5, 1}, Duration: 3 * time.Second, StepTime: 2 * time.Second,
		BPTime: time.Second, Compared: 4,
	}
	s := metrics.Summary{
		{Variant: pcnet.FixedPrediction, Distance: 1, Inferences: 4, FirstNonzero: 1, Convergence: 1},
		{Variant: pcnet.FixedPrediction, Distance: 2, Inferences: 4, FirstNonzero: 2, Convergence: math.NaN(), Unconverged: 4},
		{Variant: pcnet.Standard, Distance: 1, Inferences: 9, FirstNonzero: 7, Convergence: 7},
	}
	en := &EnergyTally{}
	en.Batch(pcnet.BatchStats{EnergyFirst: 2, EnergyLast: 1})
	en.Batch(pcnet.BatchStats{EnergyFirst: 4, EnergyLast: 2})
	return e, &r, s, en
}

func TestEpochLogJSONL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	for epoch := range 2 {
		// A resumed run opens the file again and appends.
		l, err := OpenEpochLog(path)
		require.NoError(t, err)
		e, r, s, en := tinyEpoch(epoch)
		require.NoError(t, l.Write(NewEpochRecord(e, r, s, en)))
		require.NoError(t, l.Close())
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &got))
	want := map[string]any{
		"epoch": 2.0, "variant": "fpa", "hidden": 2.0, "engine": "parallel", "cores": float64(runtime.GOMAXPROCS(0)), "precision": "f64",
		"loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.875, "cosine": 0.99,
		"layer_cosine":  []any{0.9, -0.5, 1.0},
		"first_nonzero": []any{1.0, 2.0}, "converged": []any{1.0, nil}, "unconverged": []any{0.0, 1.0},
		"energy_first": 3.0, "energy_last": 1.5,
		"epoch_seconds": 3.0, "pc_seconds": 2.0, "bp_seconds": 1.0, "compared": 4.0,
	}
	require.Equal(t, want, got)
}

func TestEpochLogCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.csv")
	for epoch := range 2 {
		l, err := OpenEpochLog(path)
		require.NoError(t, err)
		e, r, s, _ := tinyEpoch(epoch)
		require.NoError(t, l.Write(NewEpochRecord(e, r, s, nil)))
		require.NoError(t, l.Close())
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3, "one header and two records")
	require.Equal(t, []string{"epoch", "variant", "hidden", "engine", "cores", "precision", "loss", "val_loss", "val_accuracy", "cosine",
		"layer_cosine_1", "layer_cosine_2", "layer_cosine_3", "first_nonzero_d1", "first_nonzero_d2", "converged_d1", "converged_d2",
		"unconverged_d1", "unconverged_d2", "energy_first", "energy_last", "epoch_seconds", "pc_seconds", "bp_seconds", "compared"}, rows[0])
	require.Equal(t, []string{"2", "fpa", "2", "parallel", runtimeCores(), "f64", "0.5", "0.4", "0.875", "0.99",
		"0.9", "-0.5", "1", "1", "2", "1", "", "0", "1", "", "", "3", "2", "1", "4"}, rows[2])

	// Another network's columns do not go into the same table.
	l, err := OpenEpochLog(path)
	require.NoError(t, err)
	defer l.Close()
	e, r, s, _ := tinyEpoch(2)
	r.Sizes = []int{784, 8, 10}
	require.ErrorContains(t, l.Write(NewEpochRecord(e, r, s, nil)), "CSV header is not this run's")
}

func runtimeCores() string { return strconv.Itoa(runtime.GOMAXPROCS(0)) }

func TestEpochLogBP(t *testing.T) {
	e, r, _, _ := tinyEpoch(0)
	r.Algorithm = spec.BP
	e.MeanCosine, e.MeanLayerCosine, e.Compared = math.NaN(), nil, 0
	rec := NewEpochRecord(e, r, nil, nil)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	require.Contains(t, string(b), `"engine":"","cores":`)
	require.Contains(t, string(b), `"cosine":null,"layer_cosine":[null,null,null],"first_nonzero":[null,null]`)
}

func TestEpochLogBadExtension(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"run.json", "run.txt", "run", "run.CSV", "run.jsonl.gz"} {
		t.Run(name, func(t *testing.T) {
			_, err := OpenEpochLog(filepath.Join(dir, name))
			require.ErrorIs(t, err, ErrLogFormat)
			_, err = os.Stat(filepath.Join(dir, name))
			require.True(t, os.IsNotExist(err), "no file is created")
		})
	}
}

// TestEpochLogGraph: a layer graph's run logs its arch, param and skips, in JSON and as
// CSV columns after the precision; a chain of dense layers logs none of them, so that
// its JSON and CSV are what they were before graphs (TestEpochLogJSONL, TestEpochLogCSV).
func TestEpochLogGraph(t *testing.T) {
	for _, tc := range []struct {
		name               string
		arch               graph.Shape
		param              layer.Param
		skips              []graph.Skip
		wantJSON           map[string]any // the graph keys; nil: none
		wantHead, wantCols []string       // the CSV columns after "precision"; nil: none
	}{
		{name: "chain", arch: graph.Chain, param: layer.Standard},
		{
			name: "chain skips", arch: graph.Chain, param: layer.Standard, skips: []graph.Skip{{From: 1, To: 3}},
			wantJSON: map[string]any{"skips": "1:3"},
			wantHead: []string{"arch", "param", "skips"}, wantCols: []string{"", "", "1:3"},
		},
		{
			name: "residual mupc skips", arch: graph.Residual, param: layer.MuPC, skips: []graph.Skip{{From: 0, To: 2}, {From: 1, To: 3}},
			wantJSON: map[string]any{"arch": "residual", "param": "mupc", "skips": "0:2,1:3"},
			wantHead: []string{"arch", "param", "skips"}, wantCols: []string{"residual", "mupc", "0:2,1:3"},
		},
		{
			name: "mupc", arch: graph.Chain, param: layer.MuPC,
			wantJSON: map[string]any{"param": "mupc"},
			wantHead: []string{"arch", "param", "skips"}, wantCols: []string{"", "mupc", ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, r, s, _ := tinyEpoch(0)
			r.Sizes = []int{8, 8, 8, 8, 10} // equal widths 0..H, so that skips 0:2 and 1:3 fit
			r.Arch, r.Param, r.Skips = tc.arch, tc.param, tc.skips
			_, err := r.Graph()
			require.NoError(t, err)
			rec := NewEpochRecord(e, r, s, nil)

			b, err := json.Marshal(rec)
			require.NoError(t, err)
			var got map[string]any
			require.NoError(t, json.Unmarshal(b, &got))
			gotGraph := map[string]any{}
			for _, k := range []string{"arch", "param", "skips"} {
				if v, ok := got[k]; ok {
					gotGraph[k] = v
				}
			}
			if tc.wantJSON == nil {
				require.Empty(t, gotGraph)
			} else {
				require.Equal(t, tc.wantJSON, gotGraph)
			}

			path := filepath.Join(t.TempDir(), "run.csv")
			l, err := OpenEpochLog(path)
			require.NoError(t, err)
			require.NoError(t, l.Write(rec))
			require.NoError(t, l.Close())
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			require.NoError(t, err)
			require.Len(t, rows, 2)
			i := slices.Index(rows[0], "precision") + 1
			require.Equal(t, "loss", rows[0][i+len(tc.wantHead)], "the columns after the graph's")
			require.Equal(t, tc.wantHead, nilIfEmpty(rows[0][i:i+len(tc.wantHead)]))
			require.Equal(t, tc.wantCols, nilIfEmpty(rows[1][i:i+len(tc.wantCols)]))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
