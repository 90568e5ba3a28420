package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/pkg/events"
)

// stateStore loads the keys' states from the state bucket, keeps them in a
// bounded cache and writes them back with a revision compare-and-swap, which
// fences off a writer that lost the key (ErrFenced). Safe for concurrent use;
// its lock guards the cache alone and is held while it asks keep.
type stateStore struct {
	js        jetstream.JetStream
	kv        jetstream.KeyValue
	retention time.Duration
	size      int
	// keep reports whether a cached key must not be evicted (work queued or
	// uncommitted): its cached state is ahead of the bucket.
	keep func(key string) bool

	mu    sync.Mutex
	cache map[string]*cachedState
}

// cachedState is a key's committed state (at KV revision rev) with its batch
// applied.
type cachedState struct {
	st  *KeyState
	rev uint64
	// published holds the ids of the key's events stored after the committed
	// ResolvedSeq, read when a repeated message first needs them; nil: not read.
	published map[string]bool
}

func newStateStore(js jetstream.JetStream, kv jetstream.KeyValue, retention time.Duration, size int, keep func(string) bool) *stateStore {
	return &stateStore{js: js, kv: kv, retention: retention, size: size, keep: keep, cache: make(map[string]*cachedState)}
}

// cached returns key's cached state, or nil.
func (s *stateStore) cached(key string) *cachedState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache[key]
}

// put caches c as key's state, first evicting one key that keep allows when
// the cache is full.
func (s *stateStore) put(key string, c *cachedState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= s.size {
		for k := range s.cache {
			if !s.keep(k) {
				delete(s.cache, k)
				break
			}
		}
	}
	s.cache[key] = c
}

// forget drops key's cached state: it is loaded again when next needed.
func (s *stateStore) forget(key string) {
	s.mu.Lock()
	delete(s.cache, key)
	s.mu.Unlock()
}

// forgetAll drops every cached state.
func (s *stateStore) forgetAll() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// load reads key's committed state from the bucket (an empty one at revision
// 0 when the key has none, or only a delete marker), without caching it. It
// reads from the bucket's leader: a replica behind it (a direct get) could
// return an older state, and the events decided on it would be published
// before the compare-and-swap found out. A stored state that cannot be
// decoded is an error wrapping errNoRetry.
func (s *stateStore) load(ctx context.Context, key string) (*cachedState, error) {
	c := &cachedState{st: &KeyState{Key: key}}
	m, err := jsutil.LeaderGet(ctx, s.js, "KV_"+events.BucketState, jsutil.LeaderGetRequest{LastBySubject: stateSubjectPrefix + key})
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return nil, fmt.Errorf("resolver: load state: %w", err)
	case deleted(m.Header):
	default:
		if err := unmarshalState(m.Data, c.st); err != nil {
			return nil, fmt.Errorf("%w: decode state of %s: %w", errNoRetry, key, err)
		}
		c.rev = m.Sequence
	}
	return c, nil
}

// deleted reports whether a bucket entry's headers make it a delete or
// purge marker, as KeyValue.Get reads them.
func deleted(h nats.Header) bool {
	switch h.Get("KV-Operation") {
	case "DEL", "PURGE":
		return true
	}
	return h.Get(jetstream.MarkerReasonHeader) != ""
}

// save writes st with a compare-and-swap on rev (0: the key must not exist,
// or only its delete marker) and returns the new revision, or ErrFenced. A
// state with every operation terminal gets the retention as its TTL.
func (s *stateStore) save(ctx context.Context, key string, st *KeyState, rev uint64) (uint64, error) {
	b, err := marshalState(st)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	var ttl time.Duration
	if !st.Open() {
		ttl = s.retention
	}
	newRev, err := s.casPublish(ctx, key, b, rev, ttl)
	if rev == 0 && isCASConflict(err) {
		var opts []jetstream.KVCreateOpt
		if ttl > 0 {
			opts = append(opts, jetstream.KeyTTL(ttl))
		}
		newRev, err = s.kv.Create(ctx, key, b, opts...)
	}
	if isCASConflict(err) {
		return 0, fmt.Errorf("%w: %s: %w", ErrFenced, key, err)
	}
	if err != nil {
		return 0, fmt.Errorf("resolver: save state: %w", err)
	}
	return newRev, nil
}

// casPublish writes data to key's subject in the state bucket when the
// subject's last sequence is rev, and returns the new one: KeyValue.Update
// as one awaited async publish, without a request's reply subscription. It
// waits at most stateWriteTimeout.
func (s *stateStore) casPublish(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (uint64, error) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	acks, err := jsutil.PublishAllWithin(ctx, s.js, stateWriteTimeout, jsutil.Pub{Msg: &nats.Msg{Subject: stateSubjectPrefix + key, Data: data}, Opts: opts})
	if err != nil {
		return 0, err
	}
	return acks[0].Sequence, nil
}

// stateWriteTimeout bounds the wait for a state write's ack (as a
// synchronous publish's default timeout would).
const stateWriteTimeout = 5 * time.Second

// stateSubjectPrefix prefixes a key's subject in the state bucket.
const stateSubjectPrefix = "$KV." + events.BucketState + "."

// isCASConflict reports whether err is a failed revision compare-and-swap.
func isCASConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
