package forwarder

// ackedRing remembers the stream sequences this replica acked most
// recently (the server confirmed them), so that a takeover after a re-pin
// to this same replica puts no placeholder for them: they will never be
// redelivered, and a placeholder would wait for the ack floor to pass them.
// Guarded by Forwarder.mu.
type ackedRing struct {
	seqs []uint64
	next int
	set  map[uint64]struct{}
}

// ackedRemembered bounds the ring.
const ackedRemembered = 1 << 16

func (r *ackedRing) add(seq uint64) {
	if r.set == nil {
		r.set = make(map[uint64]struct{}, ackedRemembered)
		r.seqs = make([]uint64, 0, ackedRemembered)
	}
	if _, ok := r.set[seq]; ok {
		return
	}
	if len(r.seqs) < ackedRemembered {
		r.seqs = append(r.seqs, seq)
	} else {
		delete(r.set, r.seqs[r.next])
		r.seqs[r.next] = seq
		r.next = (r.next + 1) % ackedRemembered
	}
	r.set[seq] = struct{}{}
}

func (r *ackedRing) has(seq uint64) bool {
	_, ok := r.set[seq]
	return ok
}
