package pcnet

import (
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/tensor"
)

// What a node does beyond the chain: on a layer graph (docs/design.md §11) it has several
// parents, whose messages it sums into its prediction, and several children, whose errors
// it adds to its input VJP, in backprop.GraphNet's orders.

// parentSends reports whether parent p sends the node a new prediction at steps t >= 1
// (its sendsPrediction): under iPC every node below the output does, otherwise the
// hidden nodes whose predictions move.
func (n *node[T]) parentSends(p int) bool {
	if n.incremental() {
		return true
	}
	return p != 0 && !n.cfg.Variant.fixedPredictions()
}

// gather turns the messages of the node's in-edges at step t into one prediction and
// what it says: with one parent, that parent's message itself; with several, the sum
// mu_l = (chain parent's term) + x_i + x_i' + ... of their last values (GraphNet's
// order), Full when any of them brought a new value. msgs[k] is read only where
// pays[k] is Full; at t = 0 every message is full.
func (n *node[T]) gather(t int, pays []channels.Payload, msgs []*tensor.Matrix[T]) (channels.Payload, *tensor.Matrix[T]) {
	if len(n.from) == 1 {
		return pays[0], msgs[0]
	}
	w := n.w
	news := false
	for k, p := range pays {
		if p == channels.Full || t == 0 {
			w.parts[k].Copy(msgs[k])
			news = true
		}
	}
	if !news {
		return channels.Unchanged, w.pred
	}
	w.pred.Copy(w.parts[0])
	for _, part := range w.parts[1:] {
		addMatrix(w.pred, part)
	}
	return channels.Full, w.pred
}

// addMatrix adds src to dst, element by element, as backprop.GraphNet adds a skip's term.
func addMatrix[T tensor.Float](dst, src *tensor.Matrix[T]) {
	for i := 0; i < dst.Rows; i++ {
		d, s := dst.Row(i), src.Row(i)
		for j := range d {
			d[j] += s[j]
		}
	}
}

// absorbSkip receives pi_j e_j(t) from skip child k (the node's out-edge k+1), read only
// when the payload is Full, and keeps it for the sum of the cotangent (sumBuffer). The
// input node, clamped, has no use for it: its update reads the chain child's error only.
func (n *node[T]) absorbSkip(k int, p channels.Payload, msg *tensor.Matrix[T]) {
	if n.role != hiddenRole {
		return
	}
	kn := &n.known
	switch {
	case !n.event || p == channels.Full:
		n.w.skipErr[k].Copy(msg)
		kn.skipZero[k], kn.skipStale[k], kn.skipNews = false, false, true
	case p == channels.Zero && !kn.skipZero[k]:
		kn.skipZero[k], kn.skipStale[k], kn.skipNews = true, true, true
	}
}

// cotangent brings the whole cotangent of x_l up to date after the input VJP of the step
// and reports whether it is zero and whether it changed. Without skip children it is jte;
// with them jte + pi_j e_j + ... over the skip targets ascending, GraphNet's order, formed
// again (under the event schedule) only when a term changed, and known to be zero when
// every term is.
func (n *node[T]) cotangent() (zero, news bool) {
	k := &n.known
	if len(n.w.skipErr) == 0 {
		return k.jteZero, k.jteNews || !n.event
	}
	if n.event && k.sumValid && !k.jteNews && !k.skipNews {
		return k.sumZero, false
	}
	k.skipNews = false
	allZero := k.jteZero
	for _, z := range k.skipZero {
		allZero = allZero && z
	}
	if n.event && allZero {
		news = !(k.sumValid && k.sumZero)
		k.sumValid, k.sumZero, k.sumStale = true, true, true
		return true, news
	}
	sum := n.w.sum
	sum.Copy(n.jteBuffer())
	for j, e := range n.w.skipErr {
		if k.skipStale[j] {
			e.Zero()
			k.skipStale[j] = false
		}
		addMatrix(sum, e)
	}
	k.sumValid, k.sumZero, k.sumStale = true, false, false
	return false, true
}

// sumBuffer returns the buffer of the whole cotangent for a rule to read (see cotangent).
func (n *node[T]) sumBuffer() *tensor.Matrix[T] {
	if len(n.w.skipErr) == 0 {
		return n.jteBuffer()
	}
	if n.known.sumStale {
		n.w.sum.Zero()
		n.known.sumStale = false
	}
	return n.w.sum
}
