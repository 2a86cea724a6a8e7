//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pcnet/pcnet/mnist"
	"github.com/stretchr/testify/require"
)

// A second SIGINT ends the process at once while the first is still being handled: here
// while MNIST loads, which does not look at the interrupt, from named pipes that nothing
// writes to, so that the first interrupt can never be handled to its end on its own.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	data := t.TempDir()
	for _, name := range []string{mnist.TrainImagesFile, mnist.TrainLabelsFile, mnist.TestImagesFile, mnist.TestLabelsFile} {
		require.NoError(t, syscall.Mkfifo(filepath.Join(data, name), 0o600))
	}
	s := pcnetStart(t, "-data", data, "-metrics-addr", "127.0.0.1:0", "-out", t.TempDir(), "-epochs", "1")
	s.waitFor(t, "metrics: ") // printed just before the data loads
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	s.waitForStderr(t, interruptAck)
	require.NoError(t, s.cmd.Process.Signal(os.Interrupt))
	const atOnce = 10 * time.Second // the exit itself takes milliseconds; this is slack for a loaded machine
	select {
	case <-s.done:
	case <-time.After(atOnce):
		s.cmd.Process.Kill()
		t.Fatalf("the second interrupt did not end the process within %s; stderr:\n%s", atOnce, s.wait().stderr)
	}
	r := s.wait()
	require.Equal(t, 130, r.code, "stderr: %s", r.stderr)
	require.Equal(t, interruptAck+"\npcnet: second interrupt, exiting at once without a checkpoint\n", r.stderr)
}
