package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ownership tracks this worker's hold on each COMMS_IN partition and moves
// partitions between workers (see doc.go, "Partitions"): whether it pulls a
// partition, the cooldown after yielding one, the pin of its last delivery (a
// new one starts an ownership, which must catch up first) and when it last
// received from it. Safe for concurrent use; its lock is never held across a
// call to the server.
type ownership struct {
	workerID  string
	pinnedTTL time.Duration
	heartbeat time.Duration
	members   jetstream.KeyValue // nil: no balancing
	in        jetstream.Stream
	nc        *nats.Conn // answers and sends liveness probes
	log       *slog.Logger
	// pull starts pulling partition p's consumer.
	pull func(p int) (jetstream.ConsumeContext, error)
	// catchUp queues partition p's messages delivered to an earlier owner,
	// not acked, and below below (see doc.go, "Catch-up").
	catchUp func(p int, below uint64)
	kick    chan struct{} // a balancing round now

	rounds atomic.Int64 // balancing rounds done

	cons     []jetstream.Consumer // per partition; set by Start, read-only after
	lastSeen []atomic.Int64       // per partition: unix nanos of the last delivery

	mu       sync.Mutex
	ccs      []jetstream.ConsumeContext // per partition; nil while not pulling
	cooldown []time.Time                // per partition: no pulling before
	pins     []string                   // per partition: pin id of the last delivery
	pinsSeen []bool
	lastLive []string                  // live members at the last balancing round
	peerPins map[string]map[int]string // per member: the pins it last reported, until found dead
	dead     map[string]bool           // members whose probe found no connection
}

func newOwnership(n int, cfg Config, in jetstream.Stream, log *slog.Logger) *ownership {
	return &ownership{
		workerID: cfg.WorkerID, pinnedTTL: cfg.PinnedTTL, heartbeat: cfg.Heartbeat, members: cfg.Members, in: in, log: log,
		cons: make([]jetstream.Consumer, n), lastSeen: make([]atomic.Int64, n),
		ccs: make([]jetstream.ConsumeContext, n), cooldown: make([]time.Time, n),
		pins: make([]string, n), pinsSeen: make([]bool, n),
		kick: make(chan struct{}, 1), peerPins: make(map[string]map[int]string), dead: make(map[string]bool),
	}
}

// consumer returns partition p's durable consumer.
func (o *ownership) consumer(p int) jetstream.Consumer { return o.cons[p] }

// resume starts pulling partition p.
func (o *ownership) resume(p int) error {
	cc, err := o.pull(p)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.ccs[p] = cc
	o.mu.Unlock()
	return nil
}

// delivered records a delivery of partition p under pin id, and reports
// whether it starts a new ownership: the first delivery, or the first under
// a new pin. The caller must then catch up (or call lost).
func (o *ownership) delivered(p int, pin string) bool {
	o.lastSeen[p].Store(time.Now().UnixNano())
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pins[p] == pin && o.pinsSeen[p] {
		return false
	}
	o.pins[p], o.pinsSeen[p] = pin, true
	return true
}

// lost makes partition p's next delivery start a new ownership, whatever its
// pin id.
func (o *ownership) lost(p int) {
	o.mu.Lock()
	o.pinsSeen[p] = false
	o.mu.Unlock()
}

// active reports whether this worker received a message of p recently, that
// is, p is probably pinned to it.
func (o *ownership) active(p int) bool {
	return time.Now().UnixNano()-o.lastSeen[p].Load() < int64(2*o.pinnedTTL)
}

// stopAll stops pulling every partition, for good, and returns once every
// consume callback has ended.
func (o *ownership) stopAll() {
	o.mu.Lock()
	ccs := slices.Clone(o.ccs)
	for p := range o.ccs {
		o.ccs[p] = nil
		o.cooldown[p] = time.Now().Add(24 * time.Hour)
	}
	o.mu.Unlock()
	for _, cc := range ccs {
		if cc != nil {
			cc.Drain()
		}
	}
	for _, cc := range ccs {
		if cc != nil {
			<-cc.Closed()
		}
	}
}

// unpin releases the partitions this worker consumed recently, so that
// another worker takes them over now rather than after PinnedTTL (one that
// another worker holds only pins again, and catches up).
func (o *ownership) unpin(ctx context.Context) {
	now := time.Now().UnixNano()
	for p := range o.cons {
		if now-o.lastSeen[p].Load() > int64(o.pinnedTTL) {
			continue
		}
		if err := o.in.UnpinConsumer(ctx, ConsumerName(p), PriorityGroup); err != nil {
			o.log.Debug("unpin failed", "partition", p, "err", err)
		}
	}
}

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
func (o *ownership) balance(ctx context.Context) {
	t := time.NewTicker(o.heartbeat)
	defer t.Stop()
	for {
		o.balanceOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

func (o *ownership) balanceOnce(ctx context.Context) {
	members, err := o.live(ctx)
	if err != nil {
		o.log.Warn("membership unavailable; keeping partitions as they are", "err", err)
		return
	}
	defer o.rounds.Add(1)
	members = o.notDead(members)
	now := time.Now()
	for p := range o.cons {
		o.mu.Lock()
		cc, cooling := o.ccs[p], now.Before(o.cooldown[p])
		o.mu.Unlock()
		switch {
		case cc == nil && !cooling:
			if err := o.resume(p); err != nil {
				o.log.Warn("resume partition failed", "partition", p, "err", err)
			}
		case cc != nil && o.active(p) && owner(p, members) != o.workerID && !o.isDead(owner(p, members)):
			o.yield(ctx, p, owner(p, members))
		}
	}
}

// notDead records members as the ones to probe and returns them without
// those whose last probe found no connection: a killed worker's heartbeat
// stays in the bucket for a few heartbeats, and its partitions must not be
// yielded to it.
func (o *ownership) notDead(members []string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastLive = members
	for id := range o.dead {
		if !slices.Contains(members, id) {
			delete(o.dead, id)
		}
	}
	return slices.DeleteFunc(slices.Clone(members), func(m string) bool { return o.dead[m] })
}

// isDead reports whether member id's last probe found no connection (it may
// have been found so during this balancing round).
func (o *ownership) isDead(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dead[id]
}

// live heartbeats this worker and returns the live workers, sorted: those
// whose last heartbeat (server time) is within 2.5 heartbeats of the newest.
func (o *ownership) live(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := o.members.PutString(ctx, o.workerID, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	keys, err := o.members.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, err
	}
	seen := make(map[string]time.Time, len(keys))
	var newest time.Time
	for _, k := range keys {
		e, err := o.members.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		seen[k] = e.Created()
		if e.Created().After(newest) {
			newest = e.Created()
		}
	}
	live := []string{o.workerID}
	for k, at := range seen {
		if k != o.workerID && newest.Sub(at) <= 5*o.heartbeat/2 {
			live = append(live, k)
		}
	}
	slices.Sort(live)
	return live, nil
}

// yield stops pulling p for a cooldown and unpins it, so its owner takes it.
func (o *ownership) yield(ctx context.Context, p int, to string) {
	o.mu.Lock()
	cc := o.ccs[p]
	o.ccs[p] = nil
	o.cooldown[p] = time.Now().Add(3 * o.pinnedTTL)
	o.mu.Unlock()
	if cc == nil {
		return
	}
	cc.Drain()
	<-cc.Closed()
	if err := o.in.UnpinConsumer(ctx, ConsumerName(p), PriorityGroup); err != nil {
		o.log.Debug("unpin failed", "partition", p, "err", err)
	}
	o.lastSeen[p].Store(0)
	o.lost(p) // coming back is a new ownership, whatever the pin id
	o.log.Info("partition yielded to its owner", "partition", p, "owner", to)
}

// leave removes this worker's heartbeat so that the others rebalance at
// once; best effort, within a second (the heartbeat expires anyway).
func (o *ownership) leave(ctx context.Context) {
	if o.members == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := o.members.Delete(ctx, o.workerID); err != nil {
		o.log.Debug("leaving membership failed", "err", err)
	}
}
