package metrics

import (
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Options.Run puts run="..." on every series, pcnet's and the Go runtime's and the
// process's, with no change to any collector; without it no series has the label.
func TestRunLabelOnEverySeries(t *testing.T) {
	for _, run := range []string{"fpa-H1-seed31-0a1b", ""} {
		reg := prometheus.NewPedanticRegistry()
		m, err := New(reg, Options{Run: run})
		require.NoError(t, err)
		netSpec{variant: pcnet.FixedPrediction, engine: pcnet.Sequential, sizes: []int{6, 5, 3}, steps: 1, batch: 2, seed: 31}.run(t, m, 1, true)
		require.NoError(t, m.SetLoss(SplitTrain, 1))
		require.NoError(t, m.SetAccuracy(SplitTrain, 1))
		require.NoError(t, m.AddSamples(1))
		require.NoError(t, m.SetCosine(pcnet.FixedPrediction, AllLayers, 1))
		require.NoError(t, m.AddLinkTraffic(channels.Traffic{Lower: 0, Dir: channels.Up, Messages: 1, WireBytes: 72}))
		m.SetEpoch(1)

		mfs, err := reg.Gather()
		require.NoError(t, err)
		families := map[string]bool{}
		series := 0
		for _, mf := range mfs {
			families[mf.GetName()] = true
			for _, sample := range mf.GetMetric() {
				got, ok := "", false
				for _, lp := range sample.GetLabel() {
					if lp.GetName() == "run" {
						got, ok = lp.GetValue(), true
					}
				}
				require.Equal(t, run != "", ok, "run %q: %s %v", run, mf.GetName(), sample.GetLabel())
				require.Equal(t, run, got, "%s", mf.GetName())
				series++
			}
		}
		for _, name := range []string{"pcnet_train_epoch", "pcnet_inferences_total", "pcnet_link_wire_bytes_total", "go_goroutines", "process_cpu_seconds_total"} {
			if name == "process_cpu_seconds_total" && runtime.GOOS != "linux" {
				continue
			}
			require.True(t, families[name], "%s gathered", name)
		}
		require.Greater(t, series, 50, "run %q", run)
	}
}

func TestRunLabelChecked(t *testing.T) {
	tests := []struct {
		label, want string
	}{
		{"fpa-H4-seed1-3f9a", ""},
		{"a", ""},
		{"lab.run_2:x-y", ""},
		{"", `run label "": want 1 to 64 characters`},
		{string(make([]byte, 65)), "want 1 to 64 characters"},
		{"a b", `run label "a b": ' ' is not a letter, digit, '.', '_', ':' or '-'`},
		{`x"}`, `'"' is not a letter`},
		{"é", `'é' is not a letter`},
	}
	for _, tt := range tests {
		err := CheckRunLabel(tt.label)
		if tt.want == "" {
			require.NoError(t, err, "%q", tt.label)
			_, err = New(prometheus.NewRegistry(), Options{Run: tt.label, SkipGoAndProcessCollectors: true})
			require.NoError(t, err, "%q", tt.label)
			continue
		}
		require.ErrorContains(t, err, tt.want)
		if tt.label != "" { // "" is no label at all in Options
			_, err = New(prometheus.NewRegistry(), Options{Run: tt.label})
			require.ErrorContains(t, err, "metrics: Run: run label")
		}
	}
}

func TestDefaultRunLabel(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		l := DefaultRunLabel("pc-H4-seed7")
		require.Regexp(t, `^pc-H4-seed7-[0-9a-f]{4}$`, l)
		require.NoError(t, CheckRunLabel(l))
		seen[l] = true
	}
	require.Greater(t, len(seen), 1, "the suffix is random")
}

// Options.Precision is one series, pcnet_run_info{precision} 1, next to the run label;
// without it there is none.
func TestRunInfoNamesThePrecision(t *testing.T) {
	for _, precision := range []string{"f32", "f64", ""} {
		reg := prometheus.NewRegistry()
		_, err := New(reg, Options{SkipGoAndProcessCollectors: true, Run: "r1", Precision: precision})
		require.NoError(t, err)
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var got []string
		for _, mf := range mfs {
			if mf.GetName() != runInfoName {
				continue
			}
			for _, m := range mf.GetMetric() {
				require.Equal(t, 1.0, m.GetGauge().GetValue())
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				require.Equal(t, "r1", labels["run"])
				got = append(got, labels["precision"])
			}
		}
		if precision == "" {
			require.Empty(t, got)
		} else {
			require.Equal(t, []string{precision}, got)
		}
	}
}
