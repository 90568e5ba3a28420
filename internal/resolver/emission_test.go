package resolver

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/randfill"
	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// sdkEmissionMsg and sdkStallCheckMsg build the messages through the SDK's
// event and events.EncodeMsg, as the resolver did before it wrote the headers
// itself: the reference the direct builders must match.
func sdkEmissionMsg(em Emission) (*nats.Msg, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(em.ID)
	e.SetType(subjects.ResolvedType(string(em.Status)))
	callID := em.CallID
	if callID == "" {
		callID = "unknown"
	}
	e.SetSource(subjects.ResolvedSource(callID))
	if em.ClientCtx != "" {
		e.SetSubject(em.ClientCtx)
	}
	e.SetTime(em.ResolvedAt)
	if em.TraceParent != "" {
		e.SetExtension(events.ExtTraceParent, em.TraceParent)
	}
	if err := e.SetData(events.ContentTypeJSON, em.Data); err != nil {
		return nil, err
	}
	return events.EncodeMsg(em.Subject, e)
}

func sdkStallCheckMsg(em Emission) (*nats.Msg, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(em.ID)
	e.SetType(stallcheck.Type)
	e.SetSource("/commsops/resolver")
	if em.ClientCtx != "" {
		e.SetSubject(em.ClientCtx)
	}
	e.SetTime(em.At)
	e.SetExtension(stallcheck.ExtSlot, em.Slot)
	e.SetExtension(stallcheck.ExtNewsSeq, strconv.FormatUint(em.NewsSeq, 10))
	if err := e.SetData(events.ContentTypeJSON, []byte("{}")); err != nil {
		return nil, err
	}
	return events.EncodeMsg(em.Subject, e)
}

func TestEmissionMsgMatchesEncodeMsg(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		var em Emission
		randfill.Fill(r, reflect.ValueOf(&em).Elem())
		em.ID = "id-" + randfill.String(r) // required attributes are never empty
		em.Slot = "id:" + randfill.String(r)
		em.Status = []events.Status{events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusStalled}[r.IntN(4)]
		if r.IntN(2) == 0 {
			em.ResolvedAt, em.At = time.Time{}, time.Time{}
		}
		for name, pair := range map[string][2]func(Emission) (*nats.Msg, error){
			"resolved":    {EmissionMsg, sdkEmissionMsg},
			"stall check": {stallCheckMsg, sdkStallCheckMsg},
		} {
			got, err := pair[0](em)
			want, wantErr := pair[1](em)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("%s %d %+v: err %v, SDK %v", name, i, em, err, wantErr)
			}
			if err != nil {
				continue
			}
			if got.Subject != want.Subject || string(got.Data) != string(want.Data) || !reflect.DeepEqual(got.Header, want.Header) {
				t.Fatalf("%s %d:\n got %v %q\nwant %v %q", name, i, got.Header, got.Data, want.Header, want.Data)
			}
		}
	}
}
