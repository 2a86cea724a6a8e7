package safetensors

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// ReadFile reads and decodes the safetensors file at path. Every error names
// the file, e.g. "ckpt.safetensors: truncated: header says 8192 bytes of
// tensor data, file has 100". The sizes in the header are checked against
// the file's size before anything is allocated, so a corrupt header cannot
// make ReadFile allocate more than the file could hold.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, st.Mode().Type())
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	f, err := decode(fh, math.MaxInt64, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteFileAtomic encodes f (as [Encode] does) into the file at path,
// atomically, as [WriteAtomic] describes. An invalid f is rejected before
// anything is written.
func WriteFileAtomic(path string, f *File) error {
	if _, err := check(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteAtomic(path, func(w io.Writer) error { return encode(w, f) })
}

// WriteAtomic replaces the file at path with what write writes, so that
// readers and crashes see either the old content or the new, never a mix.
// write gets a buffered writer on a temporary file in path's directory; the
// file is then flushed, fsynced, closed and renamed over path, and the
// directory fsynced so that the rename itself survives a crash.
//
// If write or any step up to the rename fails (or write panics), the
// temporary file is removed and the old file left untouched. If only the
// final directory fsync fails, the new file is in place and the error says
// so. The new file keeps the permissions of the file it replaces, or gets
// 0644 if there was none; a symbolic link at path is replaced, not followed.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	perm := os.FileMode(0o644)
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
		perm = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: creating temporary file: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the error is moot
			os.Remove(tmp.Name())
		}
	}()

	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: writing %s: %w", path, tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: closing %s: %w", path, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%s: written, but fsync of directory %s failed, so the rename may not survive a crash: %w", path, dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
