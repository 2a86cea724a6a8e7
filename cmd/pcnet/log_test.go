package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// -log appends one record per epoch, and a resumed run appends to the same file; a name
// that is neither .jsonl nor .csv is a usage error before anything runs.
func TestTrainLog(t *testing.T) {
	out := t.TempDir()
	logPath := filepath.Join(out, "run.jsonl")
	args := []string{"-hidden", "2", "-width", "8", "-max-train", "256", "-metrics-addr", "", "-out", out, "-log", logPath}
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, runWithin(t, context.Background(), append(args, "-epochs", "1"), &stdout, &stderr), "stderr: %s", stderr.String())
	ck := filepath.Join(out, "fpa-H2.safetensors")
	require.Equal(t, exitOK, runWithin(t, context.Background(), append(args, "-epochs", "2", "-resume", ck), &stdout, &stderr), "stderr: %s", stderr.String())
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2)
	for i, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		require.Equal(t, float64(i+1), rec["epoch"])
		require.Equal(t, "fpa", rec["variant"])
		require.Equal(t, "f32", rec["precision"], "train's default precision")
		require.Len(t, rec["layer_cosine"], 3)
		require.Equal(t, []any{1.0, 2.0}, rec["first_nonzero"])
		require.Equal(t, []any{1.0, 2.0}, rec["converged"], "FPA's exact case converges")
		require.Equal(t, []any{0.0, 0.0}, rec["unconverged"])
		require.NotNil(t, rec["energy_first"])
	}

	stdout.Reset()
	stderr.Reset()
	code := runWithin(t, context.Background(), []string{"-log", filepath.Join(out, "run.txt"), "-out", out}, &stdout, &stderr)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr.String(), `-log "`+filepath.Join(out, "run.txt")+`": want a file name ending in .jsonl or .csv`)
	_, err = os.Stat(filepath.Join(out, "run.txt"))
	require.True(t, os.IsNotExist(err))
}
