package actor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pcnet/pcnet/actor"
)

// Two actors talk over a channel; the consumer's error stops the producer,
// and Wait reports it with the actor's name.
func Example() {
	ticks := make(chan int)
	g := actor.Start(context.Background(),
		actor.Actor{Name: "producer", Run: func(ctx context.Context) error {
			for i := 1; ; i++ {
				select {
				case ticks <- i:
				case <-ctx.Done():
					return ctx.Err() // an echo of the consumer's error: dropped
				}
			}
		}},
		actor.Actor{Name: "consumer", Run: func(ctx context.Context) error {
			for {
				select {
				case i := <-ticks:
					if i == 3 {
						return fmt.Errorf("tick %d is one too many", i)
					}
					fmt.Println("tick", i)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}},
	)
	fmt.Println(g.Wait())
	// Output:
	// tick 1
	// tick 2
	// actor "consumer": tick 3 is one too many
}

// Stop ends actors that would otherwise run forever; their ctx errors are
// not errors of their own.
func ExampleGroup_Stop() {
	started := make(chan struct{})
	g := actor.Start(context.Background(), actor.Actor{Name: "layer 1", Run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		fmt.Println("stopped:", errors.Is(context.Cause(ctx), actor.ErrStopped))
		return ctx.Err()
	}})
	<-started
	g.Stop()
	fmt.Println("Wait:", g.Wait())
	// Output:
	// stopped: true
	// Wait: <nil>
}
