package main

import (
	"math"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pcnet/pcnet/safetensors"
	"github.com/stretchr/testify/require"
)

// One epoch under the event schedule ends with the tensors of one under the dense
// schedule, bit for bit, for the variants whose messages the event schedule thins out
// differently (FPA: products skipped after the wavefront too; standard PC: before it).
func TestTrainEventScheduleEqualsDense(t *testing.T) {
	for _, variant := range []string{"fpa", "pc"} {
		t.Run(variant, func(t *testing.T) {
			files := map[string]*safetensors.File{}
			for _, schedule := range []string{"dense", "event"} {
				out := t.TempDir()
				r := pcnetRun(t, "-variant", variant, "-hidden", "3", "-width", "24", "-steps", "4", "-gamma", "0.5",
					"-optimizer", "adam", "-lr", "0.002", "-max-train", "1000", "-epochs", "1", "-batch", "50",
					"-schedule", schedule, "-metrics-addr", "", "-out", out)
				require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
				require.Contains(t, r.stdout, schedule+" schedule")
				f, err := safetensors.ReadFile(filepath.Join(out, variant+"-H3.safetensors"))
				require.NoError(t, err)
				require.Equal(t, schedule, f.Metadata["schedule"])
				files[schedule] = f
			}
			dense, event := files["dense"], files["event"]
			delete(dense.Metadata, "schedule")
			delete(event.Metadata, "schedule")
			require.Equal(t, dense.Metadata, event.Metadata)
			require.Len(t, event.Tensors, len(dense.Tensors))
			for i, want := range dense.Tensors {
				got := event.Tensors[i]
				require.Equal(t, want.Name, got.Name)
				for j := range want.Data {
					if math.Float64bits(want.Data[j]) != math.Float64bits(got.Data[j]) {
						t.Fatalf("%s[%d]: event %v, dense %v", want.Name, j, got.Data[j], want.Data[j])
					}
				}
			}
		})
	}
}

// A PC run whose weights overflow (weight decay 1e308 sends them past MaxFloat64) stops with the same line under both schedules, and
// keeps the last good checkpoint.
func TestPCDivergenceIsTheSameUnderBothSchedules(t *testing.T) {
	var lines []string
	for _, schedule := range []string{"dense", "event"} {
		out := t.TempDir()
		r := pcnetRun(t, "-variant", "fpa", "-hidden", "2", "-width", "16", "-lr", "10", "-weight-decay", "1e308", "-momentum", "0",
			"-max-train", "640", "-epochs", "1", "-schedule", schedule, "-metrics-addr", "", "-out", out)
		require.Equal(t, 1, r.code, "stdout: %s", r.stdout)
		line := oneLine(t, r)
		path := filepath.Join(out, "fpa-H2.safetensors")
		require.Regexp(t, `^pcnet train: training diverged: pcnet: not finite: .* at epoch 1, batch \d+; stopped, and kept the last good checkpoint `+regexp.QuoteMeta(path), line)
		lines = append(lines, regexp.MustCompile(regexp.QuoteMeta(out)).ReplaceAllString(line, "OUT"))
	}
	require.Equal(t, lines[0], lines[1])
}
