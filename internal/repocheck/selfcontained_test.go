package repocheck

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A rule is a string the tracked tree must not contain, and why.
type rule struct {
	needle string
	why    string
}

// rules are built from parts so that this file, which is tracked too, does not contain
// them itself.
var rules = []rule{
	{"DESIGN" + " §", "cite the repository's own docs/design.md §N instead"},
	{".." + "/shared", "a path outside the repository: bring the file into it"},
	{"/" + "work/", "a path on a development machine: bring the file into the repository or say it in words"},
}

// binaryPrefix is how much of a file is searched for a NUL byte to call it binary, as git
// does: a PNG or a fuzz corpus entry may hold any bytes, and none of them is a citation.
const binaryPrefix = 8000

// scan returns one line "path:line: needle (why): text" for every line of a text file that
// contains a rule's needle, and nothing for a binary file.
func scan(path string, data []byte) []string {
	if bytes.IndexByte(data[:min(len(data), binaryPrefix)], 0) >= 0 {
		return nil
	}
	var hits []string
	for i, line := range strings.Split(string(data), "\n") {
		for _, r := range rules {
			if strings.Contains(line, r.needle) {
				hits = append(hits, fmt.Sprintf("%s:%d: %q (%s): %s", path, i+1, r.needle, r.why, strings.TrimSpace(line)))
			}
		}
	}
	return hits
}

func TestScan(t *testing.T) {
	type want struct{ line, rule int } // rule indexes rules
	for _, tc := range []struct {
		name string
		data string
		want []want // in order
	}{
		{"clean", "see docs/design.md §3\nshared memory, work\n", nil},
		{"empty", "", nil},
		{"design citation", "a\nb\n// as " + "DESIGN" + " §7 says\n", []want{{3, 0}}},
		{"outside path", "python3 \"$root/.." + "/shared/refs/x.py\"\n", []want{{1, 1}}},
		{"machine path", "(see /" + "work/x/y.sh)", []want{{1, 2}}},
		{"two on one line", "/" + "work/.." + "/shared", []want{{1, 1}, {1, 2}}},
		{"binary", "\x89PNG\x00/" + "work/", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scan("f", []byte(tc.data))
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				prefix := fmt.Sprintf("f:%d: %q (", w.line, rules[w.rule].needle)
				require.True(t, strings.HasPrefix(got[i], prefix), "hit %d is %q, want prefix %q", i, got[i], prefix)
			}
		})
	}
}

// TestTreeIsSelfContained fails on any tracked file that cites a design document by
// another name or a path outside the repository. It needs git and a checkout of this
// repository (not a copy in the module cache, or in a folder of another repository) and
// skips without them.
func TestTreeIsSelfContained(t *testing.T) {
	root, files := trackedFiles(t)
	var hits []string
	for _, f := range files {
		path := filepath.Join(root, filepath.FromSlash(f))
		info, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree and not yet committed
		}
		require.NoError(t, err)
		if !info.Mode().IsRegular() {
			continue // a symlink's target is checked where it is tracked
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		hits = append(hits, scan(f, data)...)
	}
	require.Empty(t, hits, "the tracked tree must cite only what it holds:\n%s", strings.Join(hits, "\n"))
}

// trackedFiles returns the repository's root and its tracked files (slash-separated,
// relative to the root), or skips the test where there is no git checkout of it.
func trackedFiles(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git not found: %v", err)
	}
	want, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	root := strings.TrimSpace(string(out))
	if same, err := sameDir(root, want); err != nil || !same {
		t.Skipf("the git checkout at %s is not this repository (its root is %s)", root, want)
	}
	out, err = exec.Command("git", "-C", root, "ls-files", "-z").Output()
	require.NoError(t, err, "git ls-files")
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	require.Greater(t, len(files), 1, "git ls-files listed %q", files)
	return root, files
}

// sameDir reports whether a and b are the same directory, through symlinks.
func sameDir(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}
