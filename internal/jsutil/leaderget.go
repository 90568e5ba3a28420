package jsutil

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LeaderGetRequest selects one message of a stream: the one at Seq, or with
// NextBySubject the first at Seq or after on that subject (a filter), or
// with LastBySubject the last on that subject.
type LeaderGetRequest struct {
	Seq           uint64 `json:"seq,omitempty"`
	NextBySubject string `json:"next_by_subj,omitempty"`
	LastBySubject string `json:"last_by_subj,omitempty"`
}

// leaderGetTimeout bounds a LeaderGet whose ctx has no deadline.
const leaderGetTimeout = 5 * time.Second

// LeaderGet returns the message of stream that req selects, read by the
// stream's leader through the JetStream API (STREAM.MSG.GET). Unlike
// Stream.GetMsg on a stream that allows direct gets, which any replica may
// answer from behind the leader (a restarted node answers once 90% caught
// up), it sees every message the stream acknowledged. It returns
// jetstream.ErrMsgNotFound when there is none, a *jetstream.APIError for any
// other refusal.
func LeaderGet(ctx context.Context, js jetstream.JetStream, stream string, req LeaderGetRequest) (*jetstream.RawStreamMsg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaderGetTimeout)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("leader get: %w", err)
	}
	resp, err := js.Conn().RequestWithContext(ctx, apiPrefix(js)+"STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("leader get from %s: %w", stream, err)
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("leader get from %s: decode: %w", stream, err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, jetstream.ErrMsgNotFound
	case r.Error != nil:
		return nil, fmt.Errorf("leader get from %s: %w", stream, r.Error)
	case r.Message == nil:
		return nil, fmt.Errorf("leader get from %s: an answer without a message", stream)
	}
	m := &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Seq, Data: r.Message.Data, Time: r.Message.Time}
	if len(r.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return nil, fmt.Errorf("leader get from %s: headers: %w", stream, err)
		}
	}
	return m, nil
}

// apiPrefix returns the JetStream API prefix js sends requests under, with
// its trailing dot.
func apiPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return jetstream.DefaultAPIPrefix
}
