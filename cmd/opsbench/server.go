package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// bench is the one embedded nats-server of an invocation and an admin
// connection to it. Every phase starts from empty streams (reset) and opens
// its own connections, one per role, as separate processes would.
type bench struct {
	o     Options
	srv   *server.Server
	dir   string
	url   string
	admin *nats.Conn
	ajs   jetstream.JetStream
	// profile is the CPU profile of one phase; phases mark their timed part.
	profile *profiler
}

func startServer(o Options) (*bench, error) {
	dir, err := os.MkdirTemp("", "opsbench-*")
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "opsbench",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("embedded nats-server did not start within 10s")
	}
	b := &bench{o: o, srv: srv, dir: dir, url: srv.ClientURL()}
	if b.admin, b.ajs, err = b.connect("opsbench-admin"); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	if b.admin != nil {
		b.admin.Close()
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	os.RemoveAll(b.dir)
}

// connect opens a connection with the JetStream options commsops' processes
// use (internal/natsconn).
func (b *bench) connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(b.url, nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", name, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second), jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// reset deletes every stream (the KV buckets included) so the next phase
// starts empty, and collects the garbage the last phase left.
func (b *bench) reset(ctx context.Context) error {
	lister := b.ajs.StreamNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("list streams: %w", err)
	}
	for _, n := range names {
		if err := b.ajs.DeleteStream(ctx, n); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete stream %s: %w", n, err)
		}
	}
	runtime.GC()
	return nil
}

func (b *bench) storage() jetstream.StorageType {
	if b.o.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// ensure creates commsops' streams and buckets as every process does.
func (b *bench) ensure(ctx context.Context) (*streams.Layout, error) {
	return streams.Ensure(ctx, b.ajs, streams.Config{Memory: b.o.Memory, Partitions: b.o.Partitions})
}

// plainStream creates a stream for the bare baselines, with the same storage
// and duplicate window as commsops' streams.
func (b *bench) plainStream(ctx context.Context, name, subjects string) error {
	_, err := b.ajs.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subjects},
		Storage: b.storage(), Duplicates: 10 * time.Minute})
	return err
}

// preload stores in through inbound.Store (the path a bot's Publisher and
// the ingest take) and returns how many messages COMMS_IN holds afterwards.
func (b *bench) preload(ctx context.Context, js jetstream.JetStream, in []inbound.Inbound) (int, error) {
	for start := 0; start < len(in); start += 256 {
		if err := inbound.Store(ctx, js, time.Minute, in[start:min(start+256, len(in))]); err != nil {
			return 0, fmt.Errorf("preload: %w", err)
		}
	}
	s, err := b.ajs.Stream(ctx, events.StreamIn)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.State.Msgs), nil
}

// preloadSeq renders seq as the ingest would and preloads it; every event
// must be stored (the generator gives each copy new content, so the stream's
// duplicate window absorbs none).
func (b *bench) preloadSeq(ctx context.Context, seq []traffic.Evidence) (int, error) {
	in, err := traffic.Inbounds(seq)
	if err != nil {
		return 0, err
	}
	n, err := b.preload(ctx, b.ajs, in)
	if err == nil && n != len(in) {
		err = fmt.Errorf("COMMS_IN holds %d messages, %d were stored: the stream absorbed duplicates", n, len(in))
	}
	return n, err
}

// streamMsgs returns how many messages a stream holds, and their bytes.
func (b *bench) streamMsgs(ctx context.Context, name string) (uint64, uint64, error) {
	st, err := b.streamState(ctx, name)
	return st.Msgs, st.Bytes, err
}

func (b *bench) streamState(ctx context.Context, name string) (jetstream.StreamState, error) {
	s, err := b.ajs.Stream(ctx, name)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

// waitMsgs polls until stream holds at least want messages.
func (b *bench) waitMsgs(ctx context.Context, name string, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		n, _, err := b.streamMsgs(ctx, name)
		if err != nil {
			return err
		}
		if int(n) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d of the %d messages expected after %v", name, n, want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitDrained polls until every resolver consumer has nothing pending and
// nothing unacknowledged.
func (b *bench) waitDrained(ctx context.Context, partitions int, limit time.Duration) error {
	s, err := b.ajs.Stream(ctx, events.StreamIn)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		left := uint64(0)
		for p := range partitions {
			c, err := s.Consumer(ctx, resolver.ConsumerName(p))
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			left += info.NumPending + uint64(info.NumAckPending)
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("resolver consumers still hold %d messages after %v", left, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// serve serves h on a random loopback port until the returned stop is called.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		<-done
	}, nil
}
