package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
)

// aliveSubjectPrefix is where each worker answers liveness probes (see
// doc.go, "Failover"); a token of its id's hash follows.
const aliveSubjectPrefix = "comms.resolver.alive."

// probeInterval is how often a worker probes each other live member, and how
// long it waits for an answer: it bounds how long a dead worker's partitions
// wait for another worker beyond a few round trips.
const probeInterval = 250 * time.Millisecond

// aliveSubject returns the subject worker id answers liveness probes on: a
// hash, since an id (a hostname) may hold dots or wildcards.
func aliveSubject(id string) string {
	sum := sha256.Sum256([]byte(id))
	return aliveSubjectPrefix + hex.EncodeToString(sum[:8])
}

// answer makes this worker answer liveness probes with the pins it holds
// (partition to pin id, as JSON) until the returned subscription is
// unsubscribed or the connection closes: a killed worker's subscription is
// gone at once, and a probe of it is answered "no responders".
func (o *ownership) answer() (*nats.Subscription, error) {
	sub, err := o.nc.Subscribe(aliveSubject(o.workerID), func(m *nats.Msg) {
		b, err := json.Marshal(o.heldPins())
		if err != nil {
			return
		}
		_ = m.Respond(b)
	})
	if err != nil {
		return nil, err
	}
	// Answering before the first heartbeat announces this worker.
	return sub, o.nc.Flush()
}

// heldPins returns the pin id of each partition's last delivery to this
// worker: the pins it may hold.
func (o *ownership) heldPins() map[int]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	held := make(map[int]string)
	for p, pin := range o.pins {
		if o.pinsSeen[p] && pin != "" {
			held[p] = pin
		}
	}
	return held
}

// watchPeers probes every other live member, and every member whose pins it
// still holds, each probeInterval until ctx ends. A member whose probe is
// answered "no responders" has lost its connection: the partitions still
// pinned under the pins it last reported are unpinned, so that this worker
// (or another live one) takes them now rather than after the server's
// PinnedTTL, and the member is not yielded to until it answers again (or
// leaves the live set). A probe that times out proves nothing and changes
// nothing.
func (o *ownership) watchPeers(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.mu.Lock()
		// A killed member may drop out of the live set (its heartbeat
		// stale) before a probe finds it dead: its pins are kept, and it is
		// probed, until one does.
		peers := make([]string, 0, len(o.lastLive)+len(o.peerPins))
		for _, m := range o.lastLive {
			if m != o.workerID {
				peers = append(peers, m)
			}
		}
		for m := range o.peerPins {
			if m != o.workerID && !slices.Contains(o.lastLive, m) {
				peers = append(peers, m)
			}
		}
		o.mu.Unlock()
		for _, m := range peers {
			o.probe(ctx, m)
		}
	}
}

// probe probes member id once and acts on the answer (see watchPeers).
func (o *ownership) probe(ctx context.Context, id string) {
	pctx, cancel := context.WithTimeout(ctx, probeInterval)
	msg, err := o.nc.RequestWithContext(pctx, aliveSubject(id), nil)
	cancel()
	switch {
	case err == nil:
		var pins map[int]string
		if json.Unmarshal(msg.Data, &pins) != nil {
			return
		}
		o.mu.Lock()
		o.peerPins[id] = pins
		delete(o.dead, id)
		o.mu.Unlock()
	case errors.Is(err, nats.ErrNoResponders):
		o.mu.Lock()
		known := o.dead[id]
		o.dead[id] = true
		pins := maps.Clone(o.peerPins[id])
		o.mu.Unlock()
		if known {
			return
		}
		o.log.Info("member lost its connection; taking its partitions over", "member", id)
		resume, unacked := o.takeOver(ctx, id, pins)
		if resume {
			select {
			case o.kick <- struct{}{}: // pull them again now
			default:
			}
		}
		// Every partition is unpinned before any catch-up reads: the new
		// pins, and the deliveries they bring, do not wait for them.
		for _, p := range unacked {
			// What the dead member received and never acked is redelivered
			// only after the ack wait, and no new delivery may come to
			// start a catch-up before then: catch up on it now.
			o.catchUp(p.partition, p.below)
		}
		o.mu.Lock()
		delete(o.peerPins, id) // dealt with; an answer reports them anew
		if !slices.Contains(o.lastLive, id) {
			delete(o.dead, id)
		}
		o.mu.Unlock()
	}
}

// takeOver unpins each partition this worker owns once dead member id is
// left out that is still pinned under the pin id reported for it (one
// survivor per partition does: two reading the pin before either unpinned
// could otherwise unpin the other's new pin), and ends this worker's
// cooldown on it. It reports whether a partition it does not pull now is to
// be pulled again, and the unpinned partitions that the member left messages
// unacked in, with the bound of their catch-up.
func (o *ownership) takeOver(ctx context.Context, id string, pins map[int]string) (resume bool, unacked []unackedRange) {
	o.mu.Lock()
	members := slices.DeleteFunc(slices.Clone(o.lastLive), func(m string) bool { return o.dead[m] })
	o.mu.Unlock()
	if !slices.Contains(members, o.workerID) {
		members = append(members, o.workerID)
	}
	for p, pin := range pins {
		if p < 0 || p >= len(o.cons) || owner(p, members) != o.workerID {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := o.cons[p].Info(ictx)
		unpinned := false
		if err == nil {
			for _, g := range info.PriorityGroups {
				if g.Group == PriorityGroup && g.PinnedClientID == pin {
					err = o.in.UnpinConsumer(ictx, ConsumerName(p), PriorityGroup)
					if unpinned = err == nil; unpinned {
						o.log.Info("partition of a dead member unpinned", "partition", p, "member", id)
					}
				}
			}
		}
		cancel()
		if err != nil {
			o.log.Warn("unpinning a dead member's partition failed; the server unpins it after the pinned TTL", "partition", p, "member", id, "err", err)
		}
		if unpinned && info.NumAckPending > 0 && o.catchUp != nil {
			unacked = append(unacked, unackedRange{partition: p, below: info.Delivered.Stream + 1})
		}
		o.mu.Lock()
		o.cooldown[p] = time.Time{}
		resume = resume || o.ccs[p] == nil
		o.mu.Unlock()
	}
	return resume, unacked
}

// unackedRange is a partition a dead member left messages unacked in, below
// below.
type unackedRange struct {
	partition int
	below     uint64
}
