package inbound

import (
	"bytes"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/keys"
)

// TestNotificationEventsTestdata: every callback of internal/graphwire's
// testdata/notifications (what each yields is checked there) splits into one
// valid, encodable, decodable CloudEvent per resource.
func TestNotificationEventsTestdata(t *testing.T) {
	for _, file := range graphtest.Files(t, "notifications") {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			n, err := graphwire.ParseNotifications(graphtest.Read(t, "notifications/"+file))
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			resources := 0
			for _, item := range n.Items {
				resources += len(item.Resources)
			}
			checkNotificationEvents(t, n, resources)
		})
	}
}

// checkNotificationEvents: what parses also splits into one valid, encodable,
// decodable CloudEvent per resource on a four-token subject.
func checkNotificationEvents(t *testing.T, n *graphwire.Notifications, resources int) {
	t.Helper()
	ins, err := NotificationEvents(n, Options{MessageID: "m-1"})
	if err != nil {
		t.Fatalf("NotificationEvents: %v", err)
	}
	if len(ins) != resources {
		t.Fatalf("%d events for %d resources", len(ins), resources)
	}
	for i, in := range ins {
		checkSubject(t, in.Subject, 4)
		m, err := cehdr.EncodeMsg(in.Subject, in.Event())
		if err != nil {
			t.Fatalf("event %d: EncodeMsg: %v", i, err)
		}
		back, err := cehdr.DecodeMsg(m.Header, m.Data)
		if err != nil {
			t.Fatalf("event %d: DecodeMsg: %v", i, err)
		}
		if back.ID() != in.Event().ID() || back.Type() != in.Event().Type() || !bytes.Equal(back.Data(), in.Event().Data()) {
			t.Errorf("event %d changed in transit", i)
		}
	}
}

// TestNotificationEventsRejectsTestdata: the well-formed callbacks of
// internal/graphwire's testdata/notifications_invalid that hold an invalid
// operation (ParseNotifications keeps it as raw resourceData) are refused by
// NotificationEvents, which the ingest calls, as graphwire.ParseOperation
// refuses the operation.
func TestNotificationEventsRejectsTestdata(t *testing.T) {
	for file, c := range map[string]struct {
		want  error
		names []string
	}{
		"operation_status_finished.json":       {evterr.ErrInvalidStatus, []string{`"status"`, "finished"}},
		"operation_clientcontext_257.json":     {evterr.ErrClientContextTooLong, []string{`"clientContext"`, "257"}},
		"operation_clientcontext_control.json": {evterr.ErrClientContextInvalid, []string{`"clientContext"`, "U+000D"}},
	} {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			n, err := graphwire.ParseNotifications(graphtest.Read(t, "notifications_invalid/"+file))
			if err != nil {
				t.Fatalf("the callback itself is well formed: %v", err)
			}
			_, err = NotificationEvents(n, Options{})
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

// TestResponseEventTestdata: every envelope of internal/graphwire's
// testdata/responses becomes one event keyed as the contract says, that
// survives the codec.
func TestResponseEventTestdata(t *testing.T) {
	for _, file := range graphtest.Files(t, "responses") {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			body := graphtest.Read(t, "responses/"+file)
			r, err := graphwire.ParseActionResponse(body)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			in, err := ResponseEvent(r, body, Options{})
			if err != nil {
				t.Fatal(err)
			}
			opID := ""
			if r.Op != nil {
				opID = r.Op.ID
			}
			if want := keys.OperationKey(r.ClientContext, r.NormalizedCallID(), opID); in.Key != want || in.Key != keys.Key(r.ClientContext) {
				t.Errorf("key %q, want %q", in.Key, want)
			}
			checkSubject(t, in.Subject, 4)
			m, err := cehdr.EncodeMsg(in.Subject, in.Event())
			if err != nil {
				t.Fatal(err)
			}
			back, err := cehdr.DecodeMsg(m.Header, m.Data)
			if err != nil || back.ID() != in.Event().ID() || !bytes.Equal(back.Data(), body) {
				t.Fatalf("codec round trip: %v", err)
			}
			if again, err := graphwire.ParseActionResponse(back.Data()); err != nil || again.ClientContext != r.ClientContext {
				t.Errorf("the stored data does not parse back: %v", err)
			}
		})
	}
}

// TestNotificationInvalidUTF8: raw invalid UTF-8 in a callback string (which
// encoding/json accepts and turns into U+FFFD) never reaches a CloudEvents
// header that consumers cannot decode.
func TestNotificationInvalidUTF8(t *testing.T) {
	body := []byte("{\"value\":[{\"changeType\":\"upd\xffated\",\"resourceUrl\":\"/communications/calls/c\xfe1/operations/1\"," +
		"\"resourceData\":{\"@odata.type\":\"#microsoft.graph.playPromptOperation\",\"id\":\"1\xff\",\"clientContext\":\"cc\xc3\",\"status\":\"running\"}}]}")
	n, err := graphwire.ParseNotifications(body)
	if err != nil {
		t.Fatal(err)
	}
	op, err := graphwire.ParseOperation(n.Items[0].Resources[0])
	if err != nil {
		t.Fatal(err)
	}
	if op.ClientContext != "cc\uFFFD" {
		t.Errorf("clientContext %q, want the decoder's U+FFFD replacement", op.ClientContext)
	}
	checkNotificationEvents(t, n, 1)
}
