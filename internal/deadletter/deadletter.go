// Package deadletter builds the copies that the resolver and the forwarder
// store in COMMS_DLQ for a message they give up on: the original headers
// (without JetStream publish controls) and data, plus Commsops-Dlq-* headers
// that say why and where from, on comms.dlq.<stream>.<key>.
package deadletter

import (
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/subjects"
)

// Headers added to a dead-lettered copy; the original headers are kept.
const (
	HeaderReason     = "Commsops-Dlq-Reason"
	HeaderStream     = "Commsops-Dlq-Stream"
	HeaderSubject    = "Commsops-Dlq-Subject"
	HeaderSeq        = "Commsops-Dlq-Stream-Seq"
	HeaderDeliveries = "Commsops-Dlq-Deliveries"
	HeaderWorker     = "Commsops-Dlq-Worker"
	HeaderMsgID      = "Commsops-Dlq-Msg-Id" // the original Nats-Msg-Id
)

// Copy returns the dead-letter copy of msg, taken from stream for key by
// worker because of reason, and the message's stream sequence and delivery
// count (0 when it has no JetStream metadata). Publish the copy with MsgID.
func Copy(msg jetstream.Msg, stream, key, worker string, reason error) (dl *nats.Msg, seq, delivered uint64) {
	if meta, err := msg.Metadata(); err == nil && meta != nil {
		seq, delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	if key == "" {
		key = "unknown"
	}
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if !publishControl(k) {
			h[k] = append([]string(nil), v...)
		}
	}
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		h.Set(HeaderMsgID, id)
	}
	h.Set(HeaderReason, reason.Error())
	h.Set(HeaderStream, stream)
	h.Set(HeaderSubject, msg.Subject())
	h.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	h.Set(HeaderDeliveries, strconv.FormatUint(delivered, 10))
	h.Set(HeaderWorker, worker)
	return &nats.Msg{Subject: subjects.DeadLetter(stream, key), Header: h, Data: msg.Data()}, seq, delivered
}

// MsgID returns the Nats-Msg-Id of the copy of the message at seq of stream
// (scope: "" for the resolver, the durable's name for a forwarder), so that
// however often a copy is tried, one is stored.
func MsgID(stream, scope string, seq uint64) string {
	if scope == "" {
		return "dlq-" + stream + "-" + strconv.FormatUint(seq, 10)
	}
	return "dlq-" + stream + "-" + scope + "-" + strconv.FormatUint(seq, 10)
}

// publishControl reports whether a header is a JetStream publish assertion or
// control (Nats-Expected-*, Nats-Msg-Id, Nats-TTL, Nats-Rollup, Nats-Schedule*)
// that must not be replayed on the copy: it would make the copy's publish fail
// or behave differently.
func publishControl(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "nats-expected-") || strings.HasPrefix(n, "nats-schedule") ||
		n == "nats-msg-id" || n == "nats-ttl" || n == "nats-rollup"
}
