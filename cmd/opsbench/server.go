package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// env is one fresh embedded server with the contract's streams.
type env struct {
	srv    *server.Server
	dir    string
	nc     *nats.Conn
	js     jetstream.JetStream
	layout *streams.Layout
}

func newEnv(ctx context.Context, o Options) (*env, error) {
	dir, err := os.MkdirTemp("", "opsbench-*")
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
		JetStreamMaxMemory: 4 << 30})
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("embedded server did not start")
	}
	e := &env{srv: srv, dir: dir}
	if e.nc, e.js, err = connect(srv.ClientURL()); err != nil {
		e.close()
		return nil, err
	}
	if e.layout, err = streams.Ensure(ctx, e.js, streams.Config{Memory: o.Memory}); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func connect(url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384))
	return nc, js, err
}

func (e *env) close() {
	if e.nc != nil {
		e.nc.Close()
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	os.RemoveAll(e.dir)
}

// preload stores every piece of evidence in COMMS_IN and returns how many
// messages that made.
func (e *env) preload(ctx context.Context, seq []evidence) (int, error) {
	pub, err := events.NewPublisher(e.js, events.WithStoreTimeout(time.Minute))
	if err != nil {
		return 0, err
	}
	var batch []events.Inbound
	n := 0
	for i, ev := range seq {
		in, err := ev.inbound()
		if err != nil {
			return 0, err
		}
		batch = append(batch, in...)
		if len(batch) >= 512 || i == len(seq)-1 {
			if err := pub.Store(ctx, batch); err != nil {
				return 0, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	return n, nil
}

// waitCount waits until stream holds want messages.
func waitCount(ctx context.Context, js jetstream.JetStream, stream string, want int, limit time.Duration) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if int(info.State.Msgs) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d of %d messages after %v", stream, info.State.Msgs, want, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
