package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(runWithSignals()) }

// runWithSignals runs the command line under a context that the first SIGINT or
// SIGTERM cancels, saying so on stderr; a second one ends the process at once with
// status 130.
func runWithSignals() int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, ok := <-sigs
		if !ok {
			return
		}
		// Stopping cleanly may take a while (the batch in progress, the checkpoint): say
		// that the signal was heard and how to stop at once.
		name := "interrupt"
		if s == syscall.SIGTERM {
			name = "SIGTERM"
		}
		fmt.Fprintf(os.Stderr, "pcnet: %s received, stopping cleanly (interrupt again to exit at once)\n", name)
		cancel(&interrupted{signal: s})
		if _, ok := <-sigs; ok {
			fmt.Fprintln(os.Stderr, "pcnet: second interrupt, exiting at once without a checkpoint")
			os.Exit(130)
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	close(sigs)
	<-done
	return code
}
