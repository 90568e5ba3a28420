// Package streams creates or updates, idempotently, the JetStream streams and
// the KV bucket of the contract: COMMS_IN (partitioned by a subject transform),
// COMMS_RESOLVED, COMMS_DLQ and the COMMS_OPS state bucket.
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// MetaPartitions is the COMMS_IN metadata key that records its partition count.
const MetaPartitions = "commsops.partitions"

// BucketWorkers is the KV bucket where resolver workers announce themselves
// (a heartbeat per worker, expiring after WorkerTTL) to share the partitions.
const BucketWorkers = "COMMS_WORKERS"

// WorkerTTL is how long a worker counts as alive after its last heartbeat.
const WorkerTTL = 10 * time.Second

// Config sizes what Ensure creates.
type Config struct {
	Replicas   int
	Partitions int
	// MaxAge bounds how long COMMS_IN and COMMS_RESOLVED keep events (and so how
	// far back a replay reaches). Zero: 7 days.
	MaxAge time.Duration
	// Duplicates is the window in which a repeated Nats-Msg-Id is stored once.
	// Zero: 10 minutes.
	Duplicates time.Duration
	// Memory stores everything in memory (benchmarks); never in production.
	Memory bool
}

// Layout is what Ensure found or made.
type Layout struct {
	// Partitions is COMMS_IN's partition count (an existing stream keeps its own).
	Partitions int
	State      jetstream.KeyValue
	Workers    jetstream.KeyValue
}

// Ensure creates the streams and the state bucket, or updates them to cfg where
// that is safe. An existing COMMS_IN keeps its partition count, because
// re-partitioning a stream with messages in flight would break per-key order;
// the count in force is returned. Safe to call from several processes at once.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (*Layout, error) {
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Duplicates == 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = events.Partitions
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}

	partitions := cfg.Partitions
	if s, err := js.Stream(ctx, events.StreamIn); err == nil {
		if n, err := strconv.Atoi(s.CachedInfo().Config.Metadata[MetaPartitions]); err == nil && n > 0 {
			partitions = n
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("streams: look up %s: %w", events.StreamIn, err)
	}
	src, dst := subjects.InTransform(partitions)
	in := jetstream.StreamConfig{
		Name:             events.StreamIn,
		Description:      "commsops: every ingested Graph notification resource and bot action response, as CloudEvents",
		Subjects:         []string{events.SubjectInPrefix + ">"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: src, Destination: dst},
		Storage:          storage,
		Replicas:         cfg.Replicas,
		MaxAge:           cfg.MaxAge,
		Duplicates:       cfg.Duplicates,
		AllowDirect:      true,
		// Stall checks are scheduled messages (nats-server 2.12+).
		AllowMsgSchedules: true,
		AllowMsgTTL:       true,
		Metadata:          map[string]string{MetaPartitions: strconv.Itoa(partitions)},
	}
	resolved := jetstream.StreamConfig{
		Name:        events.StreamResolved,
		Description: "commsops: resolved operation events",
		Subjects:    []string{events.SubjectResolvedPrefix + ">"},
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		AllowDirect: true,
	}
	dlq := jetstream.StreamConfig{
		Name:        events.StreamDeadLetter,
		Description: "commsops: input messages the resolver could not process, with the reason",
		Subjects:    []string{events.SubjectDeadLetterPrefix + ">"},
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      30 * 24 * time.Hour,
		Duplicates:  cfg.Duplicates,
		AllowDirect: true,
	}
	for _, sc := range []jetstream.StreamConfig{in, resolved, dlq} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("streams: create or update %s: %w", sc.Name, err)
		}
	}
	kvStorage := jetstream.FileStorage
	if cfg.Memory {
		kvStorage = jetstream.MemoryStorage
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         events.BucketState,
		Description:    "commsops: resolver state per clientContext key",
		History:        1,
		Storage:        kvStorage,
		Replicas:       cfg.Replicas,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("streams: create or update bucket %s: %w", events.BucketState, err)
	}
	workers, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketWorkers,
		Description: "commsops: live resolver workers (heartbeats)",
		History:     1,
		TTL:         WorkerTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("streams: create or update bucket %s: %w", BucketWorkers, err)
	}
	return &Layout{Partitions: partitions, State: kv, Workers: workers}, nil
}

// Writable returns a readiness check: nil when COMMS_IN answers through its
// stream leader (so JetStream can store), else the error.
func Writable(js jetstream.JetStream) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		s, err := js.Stream(ctx, events.StreamIn)
		if err != nil {
			return fmt.Errorf("streams: %s: %w", events.StreamIn, err)
		}
		if _, err := s.Info(ctx); err != nil {
			return fmt.Errorf("streams: %s info: %w", events.StreamIn, err)
		}
		return nil
	}
}

// ResetResolver prepares a rebuild of the resolver from COMMS_IN: it deletes
// the resolver's partition consumers (so that they start again from the first
// message), its state bucket COMMS_OPS and the workers bucket. Run it with
// every resolver stopped, then Ensure, then start the resolvers: they
// republish the same resolved events with the same ids and data. Ids already
// in COMMS_RESOLVED's duplicate window are not stored again (a purge keeps
// that window): for a clean copy delete COMMS_RESOLVED before Ensure;
// otherwise events older than the window are stored again with the same ids
// and subscribers dedupe by id.
// It returns how many consumers it deleted.
func ResetResolver(ctx context.Context, js jetstream.JetStream) (int, error) {
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		return 0, fmt.Errorf("streams: %s: %w", events.StreamIn, err)
	}
	deleted := 0
	names := s.ConsumerNames(ctx)
	var toDelete []string
	for name := range names.Name() {
		if strings.HasPrefix(name, "resolver-") {
			toDelete = append(toDelete, name)
		}
	}
	if err := names.Err(); err != nil {
		return 0, fmt.Errorf("streams: list consumers: %w", err)
	}
	for _, name := range toDelete {
		if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return deleted, fmt.Errorf("streams: delete consumer %s: %w", name, err)
		}
		deleted++
	}
	for _, bucket := range []string{events.BucketState, BucketWorkers} {
		if err := js.DeleteKeyValue(ctx, bucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return deleted, fmt.Errorf("streams: delete bucket %s: %w", bucket, err)
		}
	}
	return deleted, nil
}

// EnsureRetrying is Ensure retried with backoff until it succeeds or ctx
// ends (the process's startup deadline): a JetStream cluster that is still
// electing its meta leader (a fresh deploy, a rolling restart, a node killed)
// leaves requests unanswered for a while. Every failure is retried, each
// attempt bounded on its own; the wait is logged once.
func EnsureRetrying(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Layout, error) {
	var l *Layout
	err := jsutil.Startup{Name: "streams", Log: log, Attempt: 15 * time.Second, ShouldRetry: func(error) bool { return true }}.
		Run(ctx, func(ctx context.Context) error {
			var err error
			l, err = Ensure(ctx, js, cfg)
			return err
		})
	if err != nil {
		return nil, err
	}
	return l, nil
}
