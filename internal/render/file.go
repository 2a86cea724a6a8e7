package render

import (
	"fmt"
	"io"
	"os"

	"github.com/pcnet/pcnet/safetensors"
)

// WriteFile replaces path with data atomically, so that an interrupted run never leaves
// a half-written output behind.
func WriteFile(path string, data []byte) error {
	if err := safetensors.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// EnsureDir creates dir and its parents, and reports a failure by the folder's name.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder %s: %w", dir, err)
	}
	return nil
}
