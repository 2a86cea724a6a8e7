package natslink

import "github.com/pcnet/pcnet/channels"

// TakeTraffic returns the traffic of every direction this process receives
// over NATS, in link order, up before down, counted since the last call (all
// of it at the first). Links of two local nodes, in-process, have none. It is
// meant for one reader (a worker sending its figures with each batch's
// report). Each counter is read once, so a message whose Recv races the
// call may be in this call's count and in the next's latencies; every count
// lands in exactly one call's figures.
func (t *Transport[T]) TakeTraffic() []channels.Traffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]channels.Traffic, len(t.recvs))
	for i, r := range t.recvs {
		now := r.traffic()
		out[i] = now.Sub(r.taken)
		r.taken = now
	}
	return out
}
