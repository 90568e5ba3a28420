package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Balancing. Every worker pulls every partition, so when the worker a
// partition is pinned to dies, the server pins the partition to another one
// at once. For an even share, workers announce themselves in the workers
// bucket, and each partition has an owner among the live workers by
// rendezvous hashing. A worker that is consuming a partition owned by another
// live worker yields it: it stops pulling it for a cooldown, finishing what it
// holds, and unpins it, so the owner (pulling too) is pinned. Catch-up keeps
// each key's order through the move; KV compare-and-swap fences the state.

// owner returns the live member that owns partition p by rendezvous hashing.
func owner(p int, members []string) string {
	var best string
	var bestScore uint64
	for _, m := range members {
		sum := sha256.Sum256([]byte(m + "\x00" + strconv.Itoa(p)))
		if s := binary.BigEndian.Uint64(sum[:8]); best == "" || s > bestScore {
			best, bestScore = m, s
		}
	}
	return best
}

// balance runs until ctx ends: heartbeat, then yield partitions owned by
// others and resume the ones whose cooldown is over.
func (w *Worker) balance(ctx context.Context) {
	t := time.NewTicker(w.cfg.Heartbeat)
	defer t.Stop()
	for {
		w.balanceOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) balanceOnce(ctx context.Context) {
	members, err := w.members(ctx)
	if err != nil {
		w.log.Warn("membership unavailable; keeping partitions as they are", "err", err)
		return
	}
	now := time.Now()
	for p := range w.partitions {
		w.ccMu.Lock()
		cc, cooling := w.ccs[p], now.Before(w.cooldown[p])
		w.ccMu.Unlock()
		switch {
		case cc == nil && !cooling:
			if err := w.startConsume(ctx, p); err != nil {
				w.log.Warn("resume partition failed", "partition", p, "err", err)
			}
		case cc != nil && w.active(p) && owner(p, members) != w.cfg.WorkerID:
			w.yield(ctx, p, owner(p, members))
		}
	}
}

// members heartbeats this worker and returns the live workers, sorted: those
// whose last heartbeat (server time) is within 2.5 heartbeats of the newest,
// so a crashed worker stops owning partitions long before its entry expires.
func (w *Worker) members(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := w.cfg.Members.PutString(ctx, w.cfg.WorkerID, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	keys, err := w.cfg.Members.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, err
	}
	seen := make(map[string]time.Time, len(keys))
	var newest time.Time
	for _, k := range keys {
		e, err := w.cfg.Members.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		seen[k] = e.Created()
		if e.Created().After(newest) {
			newest = e.Created()
		}
	}
	live := []string{w.cfg.WorkerID}
	for k, at := range seen {
		if k != w.cfg.WorkerID && newest.Sub(at) <= 5*w.cfg.Heartbeat/2 {
			live = append(live, k)
		}
	}
	slices.Sort(live)
	return live, nil
}

// active reports whether this worker received a message of p recently, that
// is, p is probably pinned to it.
func (w *Worker) active(p int) bool {
	return time.Now().UnixNano()-w.lastSeen[p].Load() < int64(2*w.cfg.PinnedTTL)
}

// yield stops pulling p for a cooldown and unpins it, so its owner takes it.
func (w *Worker) yield(ctx context.Context, p int, to string) {
	w.ccMu.Lock()
	cc := w.ccs[p]
	w.ccs[p] = nil
	w.cooldown[p] = time.Now().Add(3 * w.cfg.PinnedTTL)
	w.ccMu.Unlock()
	if cc == nil {
		return
	}
	cc.Drain()
	<-cc.Closed()
	if err := w.in.UnpinConsumer(ctx, ConsumerName(p), PriorityGroup); err != nil {
		w.log.Debug("unpin failed", "partition", p, "err", err)
	}
	w.lastSeen[p].Store(0)
	w.pinMu.Lock()
	w.pinsSeen[p] = false // coming back is a new ownership, whatever the pin id
	w.pinMu.Unlock()
	w.log.Info("partition yielded to its owner", "partition", p, "owner", to)
}

// leave removes this worker's heartbeat so the others rebalance at once. It
// is best effort and takes at most a second of the shutdown deadline: the
// heartbeat also expires by itself.
func (w *Worker) leave(ctx context.Context) {
	if w.cfg.Members == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := w.cfg.Members.Delete(ctx, w.cfg.WorkerID); err != nil {
		w.log.Debug("leaving membership failed", "err", err)
	}
}

// PartitionOwner returns which of the live members owns partition p: the
// assignment the workers converge to.
func PartitionOwner(p int, members []string) string { return owner(p, members) }

// Active returns the partitions this worker received messages of recently:
// the ones pinned to it, as far as it can tell.
func (w *Worker) Active() []int {
	var out []int
	for p := range w.partitions {
		if w.active(p) {
			out = append(out, p)
		}
	}
	return out
}

// ID returns the worker's id, as announced in the workers bucket.
func (w *Worker) ID() string { return w.cfg.WorkerID }
