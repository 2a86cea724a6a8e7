package bench

import (
	"container/heap"
	"fmt"
)

// LayerCopies is the number of layers of a shape BenchmarkLayerOp cycles through, so that
// each op finds its weights where a network of that many layers leaves them.
const LayerCopies = 8

// LayerCosts are the measured costs, in nanoseconds, of one weight layer's operations on
// one batch (BenchmarkLayerOp): a forward with its derivative, an input VJP with the gating,
// the FPA error step and the message copy, and a weight VJP with the gating and the SGD step.
type LayerCosts struct {
	Forward, InputVJP, WeightVJP float64
}

// Model predicts the time of one PC weight update on the parallel engine from per-layer
// costs, as the ideal schedule of the update's tasks on P cores. The tasks are those of
// the engine's node goroutines, with the engine's dependencies:
//
//	FF_l      node l's forward (l = 0..H), after FF_{l-1}: the feed-forward chain;
//	S_{l,t}   hidden node l's inference step t (t = 0..T-1): InputVJP_l, plus Forward_l
//	          for the variants that resend predictions. It follows the node's previous
//	          task and needs e_{l+1}(t), which node l+1 sends after FF_{l+1} (t = 0) or
//	          after S_{l+1,t-1}; when predictions are resent it also needs p_l(t) from
//	          S_{l-1,t-1} (l >= 2, t >= 1);
//	O_t       the output node's error of step t: no arithmetic to speak of, one message;
//	W_l       node l's weight VJP, after its last step and e_{l+1}(T).
//
// A task costs its arithmetic plus Handoff for every message it sends. A node's tasks run
// in order on one core at a time, and no task waits for anything but its inputs (the
// engine has no barrier), so the feed-forward of the upper layers overlaps the first
// steps of the lower ones, and the upper layers' weight VJPs the last steps below. The
// schedule is the greedy list schedule that starts, whenever a core is free, the ready
// task with the longest path to the end: within a few percent of optimal for such
// graphs, and what a work-conserving scheduler like Go's can at best achieve. On one core
// it is the sum of all costs.
type Model struct {
	Layers  []LayerCosts // weight layers 0..H
	Steps   int          // T
	Resend  bool         // whether hidden nodes resend predictions (standard PC, Z-IL)
	Handoff float64      // nanoseconds a message costs its sender and receiver together
}

// Predict returns the predicted nanoseconds per update on p cores.
func (m Model) Predict(p int) float64 {
	if p < 1 {
		panic(fmt.Sprintf("bench: Predict on %d cores", p))
	}
	return m.graph().schedule(p)
}

// Work returns the total nanoseconds of arithmetic in one update: what the sequential
// engine does.
func (m Model) Work() float64 {
	m.Handoff = 0
	return m.Predict(1)
}

// graph builds the task graph of one update; task ids are in topological order.
func (m Model) graph() *taskGraph {
	h, T, ho := len(m.Layers)-1, m.Steps, m.Handoff
	g := &taskGraph{}
	last := make([]int, h+1) // node l's latest task
	prev := -1
	for l := 0; l <= h; l++ {
		cost := m.Layers[l].Forward + ho // the prediction sent up
		if l > 0 {
			cost += ho // and e_l(0) sent down
		}
		last[l] = g.add(cost, prev)
		prev = last[l]
	}
	// errFrom[l] is the task after which e_l(t) is on its way to node l-1, l = 1..H+1.
	errFrom := make([]int, h+2)
	copy(errFrom[1:], last[1:])
	out := g.add(ho, last[h])
	errFrom[h+1] = out
	step := make([]int, h+1) // S_{l,t-1}, for the predictions resent
	for t := 0; t < T; t++ {
		next := make([]int, h+2)
		cur := make([]int, h+1)
		for l := 1; l <= h; l++ {
			c := m.Layers[l].InputVJP + ho
			deps := []int{last[l], errFrom[l+1]}
			if m.Resend {
				c += m.Layers[l].Forward + ho
				if t > 0 && l >= 2 {
					deps = append(deps, step[l-1])
				}
			}
			cur[l] = g.add(c, deps...)
			last[l], next[l] = cur[l], cur[l]
		}
		deps := []int{out}
		if m.Resend && h > 0 {
			deps = append(deps, cur[h])
		}
		out = g.add(ho, deps...)
		next[h+1] = out
		errFrom, step = next, cur
	}
	for l := 0; l <= h; l++ {
		g.add(m.Layers[l].WeightVJP, last[l], errFrom[l+1])
	}
	return g
}

// taskGraph is a DAG of tasks with costs, each added after its dependencies.
type taskGraph struct {
	cost []float64
	succ [][]int
	deps []int
}

// add appends a task of the given cost after deps (negative ids are ignored) and
// returns its id.
func (g *taskGraph) add(cost float64, deps ...int) int {
	id := len(g.cost)
	g.cost = append(g.cost, cost)
	g.succ = append(g.succ, nil)
	g.deps = append(g.deps, 0)
	for _, d := range deps {
		if d >= 0 {
			g.succ[d] = append(g.succ[d], id)
			g.deps[id]++
		}
	}
	return id
}

// schedule returns the makespan of the greedy list schedule on p cores, the ready task
// with the longest path to the end first (ties to the lower id).
func (g *taskGraph) schedule(p int) float64 {
	n := len(g.cost)
	level := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		longest := 0.0
		for _, s := range g.succ[i] {
			longest = max(longest, level[s])
		}
		level[i] = g.cost[i] + longest
	}
	deps := append([]int(nil), g.deps...)
	ready := &readyQueue{level: level}
	for i := range n {
		if deps[i] == 0 {
			heap.Push(ready, i)
		}
	}
	running := &finishQueue{}
	now, free := 0.0, p
	for {
		for free > 0 && ready.Len() > 0 {
			i := heap.Pop(ready).(int)
			heap.Push(running, finish{at: now + g.cost[i], task: i})
			free--
		}
		if running.Len() == 0 {
			return now
		}
		f := heap.Pop(running).(finish)
		now = f.at
		free++
		for _, s := range g.succ[f.task] {
			if deps[s]--; deps[s] == 0 {
				heap.Push(ready, s)
			}
		}
	}
}

type readyQueue struct {
	ids   []int
	level []float64
}

func (q *readyQueue) Len() int { return len(q.ids) }
func (q *readyQueue) Less(i, j int) bool {
	a, b := q.ids[i], q.ids[j]
	if q.level[a] != q.level[b] {
		return q.level[a] > q.level[b]
	}
	return a < b
}
func (q *readyQueue) Swap(i, j int) { q.ids[i], q.ids[j] = q.ids[j], q.ids[i] }
func (q *readyQueue) Push(x any)    { q.ids = append(q.ids, x.(int)) }
func (q *readyQueue) Pop() any {
	x := q.ids[len(q.ids)-1]
	q.ids = q.ids[:len(q.ids)-1]
	return x
}

type finish struct {
	at   float64
	task int
}

type finishQueue []finish

func (q finishQueue) Len() int { return len(q) }
func (q finishQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].task < q[j].task
}
func (q finishQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *finishQueue) Push(x any)   { *q = append(*q, x.(finish)) }
func (q *finishQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
