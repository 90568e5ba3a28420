package inbound

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/subjects"
)

// TestStoreRefusesUnstorableFirst: a batch holding one event over the
// server's max_payload is refused with ErrTooLarge, not ErrNotStored (which
// callers answer with "retry later"), before any event of it is published.
func TestStoreRefusesUnstorableFirst(t *testing.T) {
	const maxPayload = 32 << 10
	srv := natstest.Run(t, func(o *server.Options) { o.MaxPayload = maxPayload })
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	// A minimal COMMS_IN (the real one is made by internal/streams).
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamIn, Subjects: []string{subjects.InPrefix + ">"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	response := func(pad int) Inbound {
		body := []byte(`{"callId":"c","action":"playPrompt","clientContext":"cc","httpStatus":202,"operation":null,"pad":"` + strings.Repeat("x", pad) + `"}`)
		r, err := graphwire.ParseActionResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ResponseEvent(r, body, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	err = Store(ctx, js, 5*time.Second, []Inbound{response(1), response(maxPayload)})
	if !errors.Is(err, evterr.ErrTooLarge) || errors.Is(err, evterr.ErrNotStored) || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("err = %v, want ErrTooLarge naming max_payload and not ErrNotStored", err)
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("%d messages of a refused batch stored", info.State.Msgs)
	}
	if err := Store(ctx, js, 5*time.Second, []Inbound{response(1)}); err != nil {
		t.Fatal(err)
	}
}
