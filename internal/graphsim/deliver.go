package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// send is one callback to deliver: its items and what it carries.
type send struct {
	items    []map[string]any
	faults   []string
	statuses []string
	opIDs    []string
	// finals are the operations whose final status it carries.
	finals []*operation
}

// Headers of a callback, as Graph sends them.
const (
	headerMessageID = "X-Microsoft-Skype-Message-ID"
	headerChainID   = "X-Microsoft-Skype-Chain-ID"
	headerScenario  = "Scenario-Id"
	userAgent       = "Microsoft-Skype/3.0,(Calling/1.0)"
)

// deliver POSTs sd to the call's callbackUri until it is answered 2xx or
// the retries are spent, recording each attempt in the call's deliveries and
// the log. It reports whether it was delivered. Message ids are not drawn
// from the seeded generator: deliveries run concurrently.
func (s *Simulator) deliver(ctx context.Context, c *call, sd send) bool {
	c.mu.Lock()
	body, err := json.Marshal(notificationBody(sd.items))
	target := c.callbackURI
	c.mu.Unlock()
	if err != nil { // maps of strings and numbers: cannot happen
		s.log.Error("callback not encodable", "call_id", c.id, "err", err)
		return false
	}
	msgID := newUUID(nil)
	backoff := s.cfg.Retry.Backoff
	attempts := 1 + s.cfg.Retry.Count
	for attempt := 1; attempt <= attempts; attempt++ {
		now := s.cfg.Now()
		status, kid, err := s.post(ctx, target, c.chainID, msgID, body, now)
		d := Delivery{At: now.UTC(), Status: status, Attempt: attempt, Faults: nonNil(sd.faults), MessageID: msgID, Kid: kid,
			OperationIDs: sd.opIDs, Statuses: sd.statuses, Body: body}
		ok := err == nil && status >= 200 && status < 300
		switch {
		case ok:
			d.Outcome = OutcomeDelivered
		case attempt == attempts || ctx.Err() != nil:
			d.Outcome = OutcomeGaveUp
		default:
			d.Outcome = OutcomeRetry
		}
		if err != nil {
			d.Error = err.Error()
		}
		c.mu.Lock()
		c.deliveries = append(c.deliveries, d)
		if ok {
			for _, op := range sd.finals {
				op.finalDelivered = true
			}
		}
		c.mu.Unlock()
		attrs := []any{"call_id", c.id, "message_id", msgID, "attempt", attempt, "status", status,
			"statuses", sd.statuses, "operation_ids", sd.opIDs, "faults", sd.faults, "kid", kid}
		switch d.Outcome {
		case OutcomeDelivered:
			s.log.Info("callback delivered", attrs...)
			return true
		case OutcomeGaveUp:
			s.log.Warn("callback given up", append(attrs, "err", d.Error)...)
			return false
		}
		s.log.Info("callback not accepted; retrying", append(attrs, "err", d.Error, "backoff", backoff)...)
		if !sleep(ctx, backoff) { // closed: the retry never comes
			c.mu.Lock()
			for i := len(c.deliveries) - 1; i >= 0; i-- {
				if c.deliveries[i].MessageID == msgID {
					c.deliveries[i].Outcome, c.deliveries[i].Error = OutcomeGaveUp, "the simulator closed before the retry"
					break
				}
			}
			c.mu.Unlock()
			s.log.Warn("callback given up", append(attrs, "err", "the simulator closed before the retry")...)
			return false
		}
		backoff *= 2
	}
	return false
}

// post sends one attempt within the delivery timeout. It returns the answer's
// status (0 when there was none) and the kid the token was signed with.
func (s *Simulator) post(ctx context.Context, target, chainID, msgID string, body []byte, now time.Time) (int, string, error) {
	token, kid, err := s.keys.sign(now, s.cfg.Issuer, s.cfg.Audience, s.cfg.Tenant)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, kid, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(headerMessageID, msgID)
	req.Header.Set(headerChainID, chainID)
	req.Header.Set(headerScenario, chainID)
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, kid, errors.New("no answer within the delivery timeout")
		}
		return 0, kid, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, kid, nil
}

// nonNil returns ss, or an empty slice for nil, so JSON shows [].
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
