package graph_test

import (
	"fmt"

	"github.com/pcnet/pcnet/graph"
)

// docs/design.md §11's example: nine hidden layers with the skips 1 -> 5 and 3 -> 8.
// Node 3 is three steps from the output through node 8, so x_3 moves at step 3, and with
// it mu_4: e_4 is non-zero at step 3, a step before x_4 moves (the wave also runs upward).
// Under fixed predictions (FPA-PC) the wave runs downward only, and e_4 waits for step 6.
func Example() {
	skips, err := graph.ParseSkips("1:5,3:8")
	if err != nil {
		fmt.Println(err)
		return
	}
	widths := []int{784, 64, 64, 64, 64, 64, 64, 64, 64, 64, 10}
	g, err := graph.New(widths, graph.Chain, skips)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g)
	fmt.Println("node 4's neighbours:", g.Neighbours(4))
	fmt.Print("eta:      ")
	for v := 1; v <= g.H(); v++ {
		fmt.Print(" ", g.Eta(v))
	}
	fmt.Print("\ntau:      ")
	for v := 1; v <= g.H(); v++ {
		fmt.Print(" ", g.Tau(v))
	}
	fmt.Print("\neta (FPA):")
	for v := 1; v <= g.H(); v++ {
		fmt.Print(" ", g.EtaFixed(v))
	}
	fmt.Println()
	fmt.Println("FPA, gamma 1: e_1 changes at steps", g.PathLengths(1), "and is final from", g.LongestPath(1))

	_, err = graph.New(widths[:6], graph.Chain, []graph.Skip{{From: 0, To: 2}})
	fmt.Println(err)
	// Output:
	// chain H=9 skips 1:5,3:8
	// node 4's neighbours: [1 3 5]
	// eta:       5 4 3 3 4 4 3 2 1
	// tau:       5 4 3 4 5 4 3 2 1
	// eta (FPA): 5 4 3 6 5 4 3 2 1
	// FPA, gamma 1: e_1 changes at steps [5 6 9] and is final from 9
	// graph: widths differ: skip 0:2 adds x_0 to mu_2, but node 0 has width 784 and node 2 has width 64
}
