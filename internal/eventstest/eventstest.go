// Package eventstest stores resolved events in COMMS_RESOLVED as the resolver
// does, for the tests and benchmarks of what reads them (events.Operations,
// the operations API, the forwarder) without running a resolver.
package eventstest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// EmitResolved stores the resolved event of operation opID, in slot of cc's
// key, reaching status, with the resolver's subject, headers and id scheme, and
// returns its COMMS_RESOLVED sequence. A completed one carries resultInfo 200.
func EmitResolved(t testing.TB, js jetstream.JetStream, cc, slot, opID string, status events.Status) uint64 {
	t.Helper()
	m, err := ResolvedMsg(cc, slot, opID, status)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(m.Header.Get("ce-id")))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// ResolvedMsg returns the message EmitResolved stores; its id (the ce-id
// header) is unique per (cc, slot, status).
func ResolvedMsg(cc, slot, opID string, status events.Status) (*nats.Msg, error) {
	e := event.New()
	e.SetID(fmt.Sprintf("%s-%s-%s", cc, slot, status.Token()))
	e.SetType(subjects.ResolvedType(string(status)))
	e.SetSource(subjects.ResolvedSource("call-1"))
	e.SetSubject(cc)
	e.SetTime(time.Now())
	e.SetExtension(stallcheck.ExtSlot, slot)
	op := events.ResolvedOperation{ClientContext: cc, CallID: "call-1", OperationID: opID,
		ODataType: "#microsoft.graph.playPromptOperation", Status: status, Sources: []events.Source{}, ResolvedAt: time.Now()}
	if status == events.StatusCompleted {
		op.ResultInfo = &events.ResultInfo{Code: 200, Message: "done"}
	}
	b, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	if err := e.SetData(events.ContentTypeJSON, b); err != nil {
		return nil, err
	}
	return events.EncodeMsg(events.ResolvedSubject(events.Key(cc), status), e)
}
