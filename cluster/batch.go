package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
)

// Step learns from one batch: every worker runs it, node 0's with x and node H+1's with
// the labels. It returns the loss at the feed-forward values and, as Network.Learn does,
// the batch's fault (wrapping pcnet.ErrNonFinite where a value was not finite).
func (c *Coordinator[T]) Step(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	if c.cfg.Optimizer.Kind == 0 {
		return 0, errors.New("cluster: Step learns: Config.Optimizer must be set")
	}
	return c.run(ctx, x, labels, true)
}

// Infer runs one batch without learning, as Network.Infer: Updates then returns the
// workers' weight updates.
func (c *Coordinator[T]) Infer(ctx context.Context, x *tensor.Matrix[T], labels []int) (float64, error) {
	return c.run(ctx, x, labels, false)
}

func (c *Coordinator[T]) run(ctx context.Context, x *tensor.Matrix[T], labels []int, learn bool) (float64, error) {
	if c.broken != nil {
		return 0, c.broken
	}
	if !c.setUp {
		if err := c.setup(ctx); err != nil {
			return 0, err
		}
	}
	rows, cols := x.Dims()
	if cols != c.widths[0] || len(labels) != rows {
		return 0, fmt.Errorf("cluster: a batch of %dx%d with %d labels for a network of %d inputs", rows, cols, len(labels), c.widths[0])
	}
	c.seq++
	c.stale = c.stale || learn
	for _, w := range c.workers {
		m := &message{Kind: kindBatch, Seq: c.seq, Rows: rows, Learn: learn}
		if w.Nodes.Lo == 0 {
			raw := x
			if raw.Stride == cols {
				m.X = floatBytes(raw.Data[:rows*cols])
			} else {
				m.X = floatBytes(x.Clone().Data)
			}
		}
		if w.Nodes.Hi == c.h+1 {
			m.Labels = labels
		}
		if err := c.send(w, m); err != nil {
			return 0, err
		}
	}
	reports, err := c.await(ctx, kindReport, c.seq)
	if err != nil {
		return 0, err
	}
	last := reports[len(reports)-1]
	loss := math.Float64frombits(last.Loss)
	fault := pickFault(reports, c.h)
	if err := c.traffic(reports); err != nil {
		return loss, err
	}
	c.rejected(reports)
	if fault != nil {
		return loss, &workerFault{msg: fault.Fault, nonFinite: fault.NonFinite}
	}
	if c.cfg.Observer != nil {
		var nodes []pcnet.NodeReport
		for _, r := range reports {
			for _, n := range r.Nodes {
				if n.Node < 0 || n.Node >= len(c.nodeObs) {
					return loss, c.fail(fmt.Errorf("cluster: run %s: a report on node %d", c.o.Run, n.Node))
				}
				nr := n.report()
				nr.Replay(c.nodeObs[n.Node])
				nodes = append(nodes, nr)
			}
		}
		st := pcnet.BatchStats{Variant: c.cfg.Variant, Hidden: c.h, Steps: c.cfg.Steps, Batch: rows, Loss: loss, Learned: learn}
		// F(0) and F(T) added up in node order, as a Network adds them.
		tr, err := pcnet.Energy(nodes)
		if err != nil {
			return loss, c.fail(fmt.Errorf("cluster: run %s: %w", c.o.Run, err))
		}
		if len(tr.Total) > 0 {
			st.EnergyFirst, st.EnergyLast = tr.Total[0], tr.Total[len(tr.Total)-1]
		}
		c.cfg.Observer.Batch(st)
	}
	return loss, nil
}

// pickFault returns the report whose fault is the network's, as Network.Learn finds it:
// the output node's first (it is the cause of any that learning then finds in the
// weights), then the first in node order; nil with none. reports are in node order, and
// each names the node of its fault (FaultNode).
func pickFault(reports []*message, h int) *message {
	var first *message
	for _, r := range reports {
		switch {
		case r.Fault == "":
		case r.FaultNode == h+1:
			return r
		case first == nil:
			first = r
		}
	}
	return first
}

// traffic hands the links' traffic of a batch's reports to Options.Traffic.
func (c *Coordinator[T]) traffic(reports []*message) error {
	if c.o.Traffic == nil {
		return nil
	}
	for i, r := range reports {
		for _, t := range r.Links {
			if !c.hasLink(t) {
				return c.fail(fmt.Errorf("cluster: run %s: %v reported traffic of link %d-%d %v; the network has links 0-1 to %d-%d and its skips, up and down", c.o.Run, c.workers[i], t.Lower, t.Upper, t.Dir, c.h, c.h+1))
			}
			if err := c.o.Traffic(t); err != nil {
				return c.fail(fmt.Errorf("cluster: run %s: traffic from %v: %w", c.o.Run, c.workers[i], err))
			}
		}
	}
	return nil
}

// hasLink reports whether t is the traffic of a direction of one of the network's links:
// a chain link (Upper 0 or Lower+1) or a long skip (docs/design.md §11).
func (c *Coordinator[T]) hasLink(t channels.Traffic) bool {
	if t.Dir != channels.Up && t.Dir != channels.Down || t.Lower < 0 || t.Lower > c.h {
		return false
	}
	if t.Upper == 0 || int(t.Upper) == t.Lower+1 {
		return true
	}
	return slices.Contains(c.g.Skips(), graph.Skip{From: t.Lower, To: int(t.Upper)})
}

// rejected hands the counts of the messages dropped since the last batch, the
// coordinator's and those its workers reported, to Options.Rejected, and logs the first
// of each kind.
func (c *Coordinator[T]) rejected(reports []*message) {
	all := c.rej.take()
	for _, r := range reports {
		all = append(all, r.Rejected...)
	}
	for _, r := range all {
		if c.o.Rejected != nil {
			c.o.Rejected(r)
		}
		if !c.warned[r.Kind] {
			c.warned[r.Kind] = true
			logf(c.o.Log, "warning: run %s: dropped %d %s message(s) (%s); see pcnet_rejected_messages_total\n", c.o.Run, r.N, r.Kind, r.Reason)
		}
	}
}

// workerFault is a batch's fault found in a worker.
type workerFault struct {
	msg       string
	nonFinite bool
}

func (f *workerFault) Error() string { return f.msg }

// Is makes a non-finite fault match pcnet.ErrNonFinite, as it does in one process.
func (f *workerFault) Is(target error) bool { return f.nonFinite && target == pcnet.ErrNonFinite }
