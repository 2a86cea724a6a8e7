package repocheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A readmeCommand is a command README.md gives a reader to type, as shell words.
type readmeCommand struct {
	line  int
	text  string
	words []string
}

// inlineCommand picks out the code spans in README.md's prose that are commands to run,
// not a series, a file or a flag named in passing.
var inlineCommand = regexp.MustCompile("`((?:pcnet|go run|go test|go doc) [^`]*)`")

// readmeCommands returns the commands of README.md's sh code blocks (a line each, a
// trailing "# comment" dropped) and of its inline code spans that start with pcnet, go
// run, go test or go doc.
func readmeCommands(readme string) ([]readmeCommand, error) {
	var out []readmeCommand
	inBlock := false
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock && strings.TrimPrefix(line, "```") == "sh"
			continue
		case inBlock:
			if j := strings.Index(line, " #"); j >= 0 {
				line = line[:j]
			}
			if line = strings.TrimSpace(line); line != "" {
				w, err := shellWords(line)
				if err != nil {
					return nil, fmt.Errorf("README.md:%d: %w", i+1, err)
				}
				out = append(out, readmeCommand{i + 1, line, w})
			}
			continue
		}
		for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
			w, err := shellWords(m[1])
			if err != nil {
				return nil, fmt.Errorf("README.md:%d: %w", i+1, err)
			}
			out = append(out, readmeCommand{i + 1, m[1], w})
		}
	}
	return out, nil
}

// shellWords splits a command line as sh would, for the quoting README.md uses: words
// separated by spaces, single and double quotes around a word or part of one.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case '\'', '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("%q: unterminated %c", s, c)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestReadmeCommandsParse(t *testing.T) {
	cmds, err := readmeCommands("text `pcnet train -variant bp` and `pcnet_vjps_total` and `go vet`\n" +
		"```sh\ngo test -run '^$' -bench 'A/b=.*/c' ./bench/   # a comment\n./test.sh\n```\n" +
		"```\nnot a command\n```\n")
	require.NoError(t, err)
	require.Equal(t, []readmeCommand{
		{1, "pcnet train -variant bp", []string{"pcnet", "train", "-variant", "bp"}},
		{3, "go test -run '^$' -bench 'A/b=.*/c' ./bench/", []string{"go", "test", "-run", "^$", "-bench", "A/b=.*/c", "./bench/"}},
		{4, "./test.sh", []string{"./test.sh"}},
	}, cmds)
	_, err = shellWords("pcnet 'open")
	require.ErrorContains(t, err, "unterminated")
}

// TestReadmeCommandsRun runs README.md's commands on this tree as a reader of a fresh
// clone would, the short ones in full: pcnet help and go doc as written, benchmarks for
// one iteration each (their pattern must match at least one), go test -run patterns
// listed (they must match a test). The long ones, a training run or an experiment, get
// their command line checked: it is run with -h added, which parses every flag and
// stops. The scripts (./test.sh, bench/run.sh) must exist and be executable.
func TestReadmeCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pcnet and runs benchmarks for an iteration: not in -short")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	cmds, err := readmeCommands(string(readme))
	require.NoError(t, err)
	require.NotEmpty(t, cmds)

	bin := filepath.Join(t.TempDir(), "pcnet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/pcnet")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/pcnet: %s", out)

	for _, c := range cmds {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			checkReadmeCommand(t, root, bin, c)
		})
	}
}

func checkReadmeCommand(t *testing.T, root, bin string, c readmeCommand) {
	where := fmt.Sprintf("README.md:%d: %s", c.line, c.text)
	w := c.words
	switch {
	case w[0] == "pcnet" || len(w) >= 3 && w[0] == "go" && w[1] == "run" && w[2] == "./cmd/pcnet":
		args := w[1:]
		if w[0] == "go" {
			args = w[3:]
		}
		checkPcnet(t, root, bin, where, args)
	case w[0] == "go" && len(w) > 1 && w[1] == "test":
		checkGoTest(t, root, where, w[2:])
	case w[0] == "go" && len(w) > 1 && w[1] == "doc":
		out, err := runIn(root, "go", w[1:]...)
		require.NoError(t, err, "%s: %s", where, out)
	case strings.HasSuffix(w[0], ".sh"):
		info, err := os.Stat(filepath.Join(root, w[0]))
		require.NoError(t, err, where)
		require.NotZero(t, info.Mode()&0o111, "%s: not executable", where)
	default:
		t.Fatalf("%s: a command this test does not know how to check; teach it", where)
	}
}

// checkPcnet runs pcnet help as written and checks any other pcnet command line's flags
// by running it with -h added. A synopsis (pcnet [train], pcnet experiment NAME) is
// not a command line and is skipped.
func checkPcnet(t *testing.T, root, bin, where string, args []string) {
	for _, a := range args {
		if strings.HasPrefix(a, "[") || a == "NAME" {
			t.Skipf("%s: a synopsis, not a command", where)
		}
	}
	if len(args) > 0 && args[0] == "help" {
		out, err := runIn(root, bin, args...)
		require.NoError(t, err, "%s: %s", where, out)
		require.Contains(t, out, "Usage", where)
		return
	}
	out, err := runIn(root, bin, append(args, "-h")...)
	require.NoError(t, err, "%s: its flags do not parse: %s", where, out)
}

// checkGoTest runs a benchmark command for one iteration at one core, and lists the
// tests a test command's -run pattern selects; either must select something.
func checkGoTest(t *testing.T, root, where string, args []string) {
	var kept []string
	bench, run := "", ""
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-benchtime", "-count", "-cpu":
			i++ // replaced below: one iteration, once, at one core
			continue
		case "-bench":
			bench = args[i+1]
		case "-run":
			run = args[i+1]
		}
		kept = append(kept, args[i])
	}
	if bench != "" {
		out, err := runIn(root, "go", append([]string{"test", "-benchtime", "1x", "-count", "1", "-cpu", "1"}, kept...)...)
		require.NoError(t, err, "%s: %s", where, out)
		require.Regexp(t, `(?m)^Benchmark\S+\s+1\s`, out, "%s: the pattern runs no benchmark", where)
		return
	}
	require.NotEmpty(t, run, "%s: neither -bench nor -run", where)
	for i, a := range kept {
		if a == "-run" {
			kept[i] = "-list"
		}
	}
	out, err := runIn(root, "go", append([]string{"test"}, kept...)...)
	require.NoError(t, err, "%s: %s", where, out)
	require.Regexp(t, `(?m)^Test`, out, "%s: the -run pattern selects no test", where)
}

func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
