package events

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
)

// sampleEvent has every attribute set, values needing escapes, a time with
// nanoseconds in a non-UTC zone, and extensions of several CloudEvents types.
func sampleEvent(t testing.TB) event.Event {
	t.Helper()
	e := event.New(event.CloudEventsVersionV1)
	e.SetID("n-0123456789abcdef")
	e.SetSource("/communications/calls/" + call57)
	e.SetType(TypeOperationNotification)
	e.SetSubject(`cc with space, "quotes", 100% and é日😀` + "\t\x01")
	e.SetTime(time.Date(2026, 11, 22, 11, 0, 0, 123456789, time.FixedZone("CET", 3600)))
	e.SetDataSchema("https://commsops.example/schemas/notification/v1")
	e.SetExtension(ExtCallID, call57)
	e.SetExtension(ExtClientContext, "a.b *>%20\"ü\"")
	e.SetExtension(ExtItemIndex, 7)
	e.SetExtension("flag", true)
	e.SetExtension(ExtTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if err := e.SetData(ContentTypeJSON, []byte(`{"value":"ü \"x\""}`)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCodecRoundTrip(t *testing.T) {
	e := sampleEvent(t)
	m, err := EncodeMsg("comms.in.op.k", e)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "comms.in.op.k" || !bytes.Equal(m.Data, e.Data()) {
		t.Fatalf("subject %q data %s", m.Subject, m.Data)
	}
	back, err := DecodeMsg(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if back.SpecVersion() != "1.0" || back.ID() != e.ID() || back.Source() != e.Source() || back.Type() != e.Type() ||
		back.Subject() != e.Subject() || back.DataSchema() != e.DataSchema() || back.DataContentType() != ContentTypeJSON {
		t.Errorf("attributes changed:\n got %v\nwant %v", back, e)
	}
	if !back.Time().Equal(e.Time()) || back.Time().Nanosecond() != 123456789 {
		t.Errorf("time %v, want %v", back.Time(), e.Time())
	}
	if !bytes.Equal(back.Data(), e.Data()) {
		t.Errorf("data %s, want %s", back.Data(), e.Data())
	}
	// Extensions come back as their canonical strings.
	if len(back.Extensions()) != len(e.Extensions()) {
		t.Errorf("extensions %v, want %v", back.Extensions(), e.Extensions())
	}
	for name, v := range e.Extensions() {
		want, _ := types.Format(v)
		if got := back.Extensions()[name]; got != want {
			t.Errorf("extension %s = %#v, want %q", name, got, want)
		}
	}
	// Decoding and encoding again is stable.
	m2, err := EncodeMsg(m.Subject, back)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range m.Header {
		if !slices.Equal(m2.Header[k], v) {
			t.Errorf("header %s: %q then %q", k, v, m2.Header[k])
		}
	}
	// No data, no content type: a valid event too.
	bare := event.New()
	bare.SetID("1")
	bare.SetSource("/s")
	bare.SetType("t")
	m, err = EncodeMsg("s", bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Header[HeaderContentType]; ok || len(m.Data) != 0 {
		t.Errorf("bare event: header %v data %q", m.Header, m.Data)
	}
	if back, err = DecodeMsg(m.Header, m.Data); err != nil || back.Data() != nil || back.ID() != "1" {
		t.Errorf("bare event back: %v %v", back, err)
	}
}

func TestEncodeMsgRejects(t *testing.T) {
	noID := event.New()
	noID.SetSource("/s")
	noID.SetType("t")
	badCT := sampleEvent(t)
	badCT.SetDataContentType("application/json; x=\"a\x00b\"")
	notUTF8 := sampleEvent(t)
	notUTF8.SetSubject("a\xffb")
	notUTF8Ext := sampleEvent(t)
	notUTF8Ext.SetExtension(ExtClientContext, "\xc3")
	for name, e := range map[string]event.Event{"no id": noID, "content type with NUL": badCT, "zero": {},
		"subject not UTF-8": notUTF8, "extension not UTF-8": notUTF8Ext} {
		t.Run(name, func(t *testing.T) {
			m, err := EncodeMsg("s", e)
			if m != nil || !errors.Is(err, ErrNotCloudEvent) {
				t.Fatalf("EncodeMsg = %v, %v; want ErrNotCloudEvent", m, err)
			}
		})
	}
}

func validHeader() nats.Header {
	return nats.Header{
		HeaderSpecVersion: {"1.0"},
		HeaderID:          {"id-1"},
		HeaderSource:      {"/communications/calls/c1"},
		HeaderType:        {TypeActionResponse},
		HeaderContentType: {ContentTypeJSON},
	}
}

func TestDecodeMsgRejects(t *testing.T) {
	if _, err := DecodeMsg(validHeader(), []byte(`{}`)); err != nil {
		t.Fatalf("the valid header is rejected: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(nats.Header)
		want  error
		names []string
	}{
		{"nil header", nil, ErrNotCloudEvent, []string{"ce-specversion"}},
		{"no specversion", func(h nats.Header) { delete(h, HeaderSpecVersion) }, ErrNotCloudEvent, []string{"ce-specversion"}},
		{"no id", func(h nats.Header) { delete(h, HeaderID) }, ErrNotCloudEvent, []string{"id"}},
		{"no source", func(h nats.Header) { delete(h, HeaderSource) }, ErrNotCloudEvent, []string{"source"}},
		{"no type", func(h nats.Header) { delete(h, HeaderType) }, ErrNotCloudEvent, []string{"type"}},
		{"blank id", func(h nats.Header) { h[HeaderID] = []string{"%20"} }, ErrNotCloudEvent, []string{"id"}},
		{"empty specversion values", func(h nats.Header) { h[HeaderSpecVersion] = nil }, ErrNotCloudEvent, []string{"ce-specversion"}},
		{"specversion 0.3", func(h nats.Header) { h[HeaderSpecVersion] = []string{"0.3"} }, ErrNotCloudEvent, []string{"0.3"}},
		{"specversion 1.0 with a space", func(h nats.Header) { h[HeaderSpecVersion] = []string{"1.0%20"} }, ErrNotCloudEvent, []string{"specversion"}},
		{"specversion bad escape", func(h nats.Header) { h[HeaderSpecVersion] = []string{"1.%3"} }, ErrBadHeaderEncoding, []string{"ce-specversion"}},
		{"truncated escape %4", func(h nats.Header) { h[HeaderID] = []string{"id%4"} }, ErrBadHeaderEncoding, []string{"ce-id"}},
		{"bad escape %zz", func(h nats.Header) { h[HeaderSource] = []string{"/s%zz"} }, ErrBadHeaderEncoding, []string{"ce-source", "%zz"}},
		{"invalid UTF-8 after decoding", func(h nats.Header) { h[HeaderSubject] = []string{"a%FFb"} }, ErrBadHeaderEncoding, []string{"ce-subject", "UTF-8"}},
		{"invalid UTF-8 raw", func(h nats.Header) { h[HeaderType] = []string{"t\xc3"} }, ErrBadHeaderEncoding, []string{"ce-type"}},
		{"invalid UTF-8 in an extension", func(h nats.Header) { h["ce-callid"] = []string{"%C3"} }, ErrBadHeaderEncoding, []string{"ce-callid"}},
		{"time not RFC 3339", func(h nats.Header) { h[HeaderTime] = []string{"22/11/2026"} }, ErrNotCloudEvent, []string{"ce-time"}},
		{"source not a URI reference", func(h nats.Header) { h[HeaderSource] = []string{"%25zz"} }, ErrNotCloudEvent, []string{"source"}},
		{"extension name with '_'", func(h nats.Header) { h["ce-bad_name"] = []string{"x"} }, ErrNotCloudEvent, []string{"bad_name"}},
		{"empty extension name", func(h nats.Header) { h["ce-"] = []string{"x"} }, ErrNotCloudEvent, []string{"extension"}},
		{"datacontenttype as an extension", func(h nats.Header) { h["ce-datacontenttype"] = []string{"text/plain"} }, ErrNotCloudEvent, []string{"datacontenttype"}},
		{"content-type not a media type", func(h nats.Header) { h[HeaderContentType] = []string{"application/json; charset"} }, ErrNotCloudEvent, []string{"datacontenttype"}},
		{"two casings of one header", func(h nats.Header) { delete(h, HeaderID); h["Ce-Id"] = []string{"a"}; h["CE-ID"] = []string{"b"} }, ErrNotCloudEvent, []string{"ce-id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h nats.Header
			if c.edit != nil {
				h = validHeader()
				c.edit(h)
			}
			_, err := DecodeMsg(h, []byte(`{}`))
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

// TestDecodeMsgHeaderCasing: the binding's lower-case names are canonical;
// another casing alone is read, and beside the lower-case one it never wins,
// whatever the map order.
func TestDecodeMsgHeaderCasing(t *testing.T) {
	h := nats.Header{"Ce-Specversion": {"1.0"}, "CE-ID": {"x"}, "Ce-Source": {"/s"}, "ce-TYPE": {"t"}, "Content-Type": {"text/plain"}}
	e, err := DecodeMsg(h, nil)
	if err != nil || e.ID() != "x" || e.Type() != "t" || e.DataContentType() != "text/plain" {
		t.Fatalf("%v %v", e, err)
	}
	for range 50 {
		h := validHeader()
		h["Ce-Id"] = []string{"other"}
		h["CE-SOURCE"] = []string{"/other"}
		h["Content-Type"] = []string{"text/plain"}
		e, err := DecodeMsg(h, nil)
		if err != nil || e.ID() != "id-1" || e.Source() != "/communications/calls/c1" || e.DataContentType() != ContentTypeJSON {
			t.Fatalf("got %v, %v", e, err)
		}
	}
}

// natsBinaryMessage reads a NATS message the way a CloudEvents SDK binding
// does: ce- headers are attributes or extensions (percent-decoded),
// content-type is datacontenttype, the body is the data. It shares no code
// with DecodeMsg.
type natsBinaryMessage struct {
	h    nats.Header
	data []byte
}

var natsSpecs = spec.WithPrefix("ce-")

func (m natsBinaryMessage) ReadEncoding() binding.Encoding { return binding.EncodingBinary }
func (m natsBinaryMessage) ReadStructured(context.Context, binding.StructuredWriter) error {
	return binding.ErrNotStructured
}
func (m natsBinaryMessage) Finish(error) error { return nil }

func (m natsBinaryMessage) GetAttribute(k spec.Kind) (spec.Attribute, interface{}) {
	version := natsSpecs.Version(m.h.Get(natsSpecs.PrefixedSpecVersionName()))
	if version == nil {
		return nil, nil
	}
	attr := version.AttributeFromKind(k)
	if attr == nil {
		return nil, nil
	}
	name := attr.PrefixedName()
	if k == spec.DataContentType {
		name = "content-type"
	}
	vs, ok := m.h[name]
	if !ok {
		return attr, nil
	}
	v, _ := url.PathUnescape(vs[0])
	return attr, v
}

func (m natsBinaryMessage) GetExtension(name string) interface{} {
	vs, ok := m.h["ce-"+name]
	if !ok {
		return nil
	}
	v, _ := url.PathUnescape(vs[0])
	return v
}
func (m natsBinaryMessage) ReadBinary(ctx context.Context, w binding.BinaryWriter) error {
	version := natsSpecs.Version(m.h.Get(natsSpecs.PrefixedSpecVersionName()))
	if version == nil {
		return binding.ErrUnknownEncoding
	}
	for k, vs := range m.h {
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			return err
		}
		if attr := version.Attribute(k); attr != nil {
			err = w.SetAttribute(attr, v)
		} else if name, ok := strings.CutPrefix(k, "ce-"); ok {
			err = w.SetExtension(name, v)
		} else if k == "content-type" {
			err = w.SetAttribute(version.AttributeFromKind(spec.DataContentType), v)
		}
		if err != nil {
			return err
		}
	}
	if len(m.data) > 0 {
		return w.SetData(bytes.NewReader(m.data))
	}
	return nil
}

// TestCloudEventsConsumerView: a message from EncodeMsg, sent through a real
// NATS server, carries exactly the binding's header names and is read by the
// CloudEvents SDK (through a minimal binding) as the event that was sent.
func TestCloudEventsConsumerView(t *testing.T) {
	body := graphtest.Read(t, "notifications/playprompt_completed_deleted.json")
	n, err := graphwire.ParseNotifications(body)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := inbound.NotificationEvents(n, inbound.Options{MessageID: "msg 1 \"é\"", ReceivedAt: time.Date(2026, 11, 22, 10, 0, 0, 5, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	m, err := EncodeMsg(in.Subject, in.Event())
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Log("not through a server in -short mode")
	} else {
		srv := natstest.Run(t)
		nc, _ := natstest.Connect(t, srv.URL())
		sub, err := nc.SubscribeSync(in.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		if m, err = sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ce-id", "ce-source", "ce-type", "ce-specversion", "content-type"} {
		if vs, ok := m.Header[name]; !ok || len(vs) != 1 {
			t.Errorf("header %q missing or repeated: %v", name, m.Header)
		}
	}
	for k, vs := range m.Header {
		if k != strings.ToLower(k) || !(strings.HasPrefix(k, "ce-") || k == "content-type") {
			t.Errorf("header name %q is not a binding name", k)
		}
		if strings.HasPrefix(k, "ce-") {
			for i := 0; i < len(vs[0]); i++ {
				if c := vs[0][i]; c < 0x21 || c > 0x7e || c == '"' {
					t.Errorf("header %s = %q is not percent-encoded", k, vs[0])
				}
			}
		}
	}
	if m.Header.Get("ce-specversion") != "1.0" || m.Header.Get("content-type") != "application/json" ||
		m.Header.Get("ce-graphmessageid") != "msg%201%20%22%C3%A9%22" {
		t.Errorf("header values: %v", m.Header)
	}
	got, err := binding.ToEvent(context.Background(), natsBinaryMessage{m.Header, m.Data})
	if err != nil {
		t.Fatalf("the SDK cannot read it: %v", err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	want := in.Event()
	if got.ID() != want.ID() || got.Source() != want.Source() || got.Type() != want.Type() || got.Subject() != want.Subject() ||
		!got.Time().Equal(want.Time()) || got.DataContentType() != ContentTypeJSON || !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("the SDK read\n%v\nwant\n%v", got, want)
	}
	for name, v := range want.Extensions() {
		s, _ := types.Format(v)
		if gv, _ := types.Format(got.Extensions()[name]); gv != s {
			t.Errorf("extension %s: SDK read %q, want %q", name, gv, s)
		}
	}
	// DecodeMsg reads the same.
	back, err := DecodeMsg(m.Header, m.Data)
	if err != nil || back.ID() != got.ID() || back.Subject() != got.Subject() {
		t.Fatalf("DecodeMsg: %v", err)
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, bytes.NewReader(back.Data()))
	if !bytes.Equal(buf.Bytes(), got.Data()) {
		t.Error("DecodeMsg and the SDK read different data")
	}
}
