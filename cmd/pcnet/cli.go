package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed: a file, the data, the network, divergence, an interrupt
	exitUsage   = 2 // the command line is wrong
)

// usageError is a command line that cannot work; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// interrupted is the cause of the root context's cancellation by a signal.
type interrupted struct{ signal os.Signal }

func (e *interrupted) Error() string { return "interrupted (signal: " + e.signal.String() + ")" }

// reportedError carries a message that is printed as it is, without the command's
// prefix (the interrupt message).
type reportedError struct{ msg string }

func (e *reportedError) Error() string { return e.msg }

// command is one subcommand.
type command struct {
	name    string
	args    string // positional arguments before the flags, for the usage line
	summary string
	// flags returns the command's flag set, for parsing and for help.
	flags func() *flag.FlagSet
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// details is printed after the flags in the command's help.
	details string
}

func commands() []command {
	return []command{
		{name: "train", summary: "train a network (the default command)", flags: func() *flag.FlagSet { return newTrainFlags().fs }, run: runTrain, details: trainDetails},
		{name: "eval", summary: "loss and accuracy of a checkpoint on a split", flags: func() *flag.FlagSet { return newEvalFlags().fs }, run: runEval, details: evalDetails},
		{name: "compare", summary: "compare PC weight updates with backprop's on one batch", flags: func() *flag.FlagSet { return newCompareFlags().fs }, run: runCompare, details: compareDetails},
		{name: "worker", summary: "host a range of a network's nodes for a run on a NATS server", flags: func() *flag.FlagSet { return newWorkerFlags().fs }, run: runWorker, details: workerDetails},
		{name: "experiment", args: "NAME ", summary: "reproduce the paper's experiments (cosine, accuracy, wavefront, complexity, online, depth, all)", flags: func() *flag.FlagSet { return newExperimentFlags().fs }, run: runExperiment, details: experimentDetails},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run executes the command line args (without the program name) and returns the exit
// status. Every error becomes one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name, rest := "train", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	var err error
	switch name {
	case "help":
		err = runHelp(rest, stdout)
	default:
		cmd, ok := findCommand(name)
		if !ok {
			return report(stderr, "pcnet", usagef("unknown command %q (want train, eval, compare, worker, experiment or help; see pcnet help)", name))
		}
		err = cmd.run(ctx, rest, stdout, stderr)
	}
	return report(stderr, "pcnet "+name, err)
}

// report prints err as one line and returns the exit status it stands for.
func report(stderr io.Writer, prefix string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	var reported *reportedError
	if errors.As(err, &reported) {
		fmt.Fprintln(stderr, msg)
		return exitFailure
	}
	fmt.Fprintf(stderr, "%s: %s\n", prefix, msg)
	var usage *usageError
	if errors.As(err, &usage) {
		return exitUsage
	}
	return exitFailure
}

// parseFlags parses args into fs. -h prints the command's help to stdout and returns
// flag.ErrHelp; anything else wrong is a usage error of one line.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd, _ := findCommand(fs.Name())
			printCommandHelp(stdout, cmd)
			return flag.ErrHelp
		}
		return usagef("%v (see pcnet %s -h)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: this command takes flags only (see pcnet %s -h)", fs.Arg(0), fs.Name())
	}
	return nil
}

// explicitFlags returns the names of the flags given on the command line.
func explicitFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func runHelp(args []string, stdout io.Writer) error {
	if len(args) > 1 {
		return usagef("want at most one command name, got %q", args)
	}
	if len(args) == 1 {
		cmd, ok := findCommand(args[0])
		if !ok {
			return usagef("unknown command %q (want train, eval, compare or experiment)", args[0])
		}
		printCommandHelp(stdout, cmd)
		return nil
	}
	fmt.Fprint(stdout, overview)
	for _, c := range commands() {
		fmt.Fprintf(stdout, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(stdout, overviewTail)
	for _, c := range commands() {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, strings.Repeat("-", 80))
		printCommandHelp(stdout, c)
	}
	return nil
}

const overview = `pcnet trains predictive-coding networks whose layers are goroutines, next to
the backpropagation baseline they are measured against.

Usage:
  pcnet [train] [flags]     (train is the default command)
  pcnet eval -checkpoint FILE [flags]
  pcnet compare [flags]
  pcnet experiment NAME [flags]
  pcnet help [command]      (or -h after any command)

Commands:
`

const overviewTail = `
Exit status: 0 on success, 1 when the work fails (a file, the data, the metrics port,
divergence, an interrupt), 2 when the command line is wrong (unknown command or flag, a
value out of range, flags that contradict the checkpoint they name).
`

// printCommandHelp lists every flag of cmd with its default, then cmd's details.
func printCommandHelp(w io.Writer, cmd command) {
	fs := cmd.flags()
	fmt.Fprintf(w, "Usage: pcnet %s %s[flags]\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, upperFirst(cmd.summary))
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		kind, usage := flag.UnquoteUsage(f)
		name := "-" + f.Name
		if kind != "" {
			name += " " + kind
		}
		def := f.DefValue
		if isStringFlag(f) {
			def = fmt.Sprintf("%q", def)
		}
		fmt.Fprintf(w, "  %s\n    \t%s (default %s)\n", name, strings.ReplaceAll(usage, "\n", "\n    \t"), def)
	}
	if cmd.details != "" {
		fmt.Fprintf(w, "\n%s", cmd.details)
	}
}

func isStringFlag(f *flag.Flag) bool {
	switch f.Value.(type) {
	case *stepsFlag:
		return false
	}
	return fmt.Sprintf("%T", f.Value) == "*flag.stringValue"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
