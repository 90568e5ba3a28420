package graphsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// HeaderFaults sets faults for the call (on a create) or the action it is
// sent with, merged into the configured ones, in GRAPHSIM_FAULTS syntax.
const HeaderFaults = "Graphsim-Faults"

// APIVersions are the Graph versions served.
var APIVersions = []string{"v1.0", "beta"}

// maxBody bounds a request body.
const maxBody = 1 << 20

// maxClientContext is Graph's limit on clientContext.
const maxClientContext = 256

// graphRoutes registers the Graph routes under each API version.
func (s *Simulator) graphRoutes(mux *http.ServeMux) {
	for _, v := range APIVersions {
		base := "/" + v + "/communications/calls"
		mux.HandleFunc("POST "+base, s.createCall)
		mux.HandleFunc("GET "+base+"/{id}", s.getCall)
		mux.HandleFunc("DELETE "+base+"/{id}", s.deleteCall)
		mux.HandleFunc("POST "+base+"/{id}/{action}", s.callAction)
		mux.HandleFunc("POST "+base+"/{id}/participants/invite", s.callAction)
		mux.HandleFunc("POST "+base+"/{id}/participants/{pid}/{action}", s.callAction)
	}
}

// graphError writes Graph's error JSON: {"error":{"code","message","innerError":{...}}}.
func graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	reqID := newUUID(nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", reqID)
	if cid := r.Header.Get("client-request-id"); cid != "" {
		w.Header().Set("client-request-id", cid)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readObject reads a JSON object body; an empty body is an empty object.
func readObject(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(b) > maxBody {
		return nil, errors.New("the body is over 1 MiB")
	}
	obj := map[string]any{}
	if strings.TrimSpace(string(b)) == "" {
		return obj, nil
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, errors.New("the body is not a JSON object")
	}
	return obj, nil
}

// requestFaults merges the Graphsim-Faults header into base.
func requestFaults(r *http.Request, base Faults) (Faults, error) {
	h := r.Header.Get(HeaderFaults)
	if h == "" {
		return base, nil
	}
	f, err := ParseFaults(h)
	if err != nil {
		return Faults{}, err
	}
	return base.Merge(f), nil
}

// baseURL returns the simulator's own URL as the request reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// apiVersion returns the version segment of the request's path.
func apiVersion(r *http.Request) string {
	v, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return v
}

// createCall serves POST /communications/calls: 201 with the call, then
// establishing and established callbacks.
func (s *Simulator) createCall(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	faults, err := requestFaults(r, s.cfg.Faults)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", HeaderFaults+": "+err.Error())
		return
	}
	cb := s.cfg.CallbackURL
	if v, ok := body["callbackUri"].(string); ok && v != "" {
		cb = v
	}
	if u, err := url.Parse(cb); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "callbackUri is not an absolute http(s) URL")
		return
	}
	c := s.newCall(cb, faults)
	c.mu.Lock()
	res := map[string]any{}
	for k, v := range body {
		res[k] = v
	}
	res["@odata.type"] = typeCall
	res["id"] = c.id
	res["state"] = c.state
	res["callbackUri"] = cb
	res["callChainId"] = c.chainID
	res["direction"] = "outgoing"
	res["tenantId"] = s.cfg.Tenant
	res["myParticipantId"] = newUUID(c.rng)
	c.resource = res
	steps := c.drawCallSteps(faults, []string{"establishing", "established"}, nil)
	c.mu.Unlock()
	s.log.Info("call created", "call_id", c.id, "callback_uri", cb, "faults", faults.String())
	w.Header().Set("Location", baseURL(r)+"/"+apiVersion(r)+"/communications/calls/"+c.id)
	writeJSON(w, http.StatusCreated, res)
	s.spawn(func(ctx context.Context) { s.runCallStates(ctx, c, steps) })
}

// liveCall returns the call named by the path, answering 404 in Graph's
// shape (and returning nil) when there is none or it was terminated.
func (s *Simulator) liveCall(w http.ResponseWriter, r *http.Request) *call {
	c, err := s.lookup(r.PathValue("id"))
	if err == nil {
		c.mu.Lock()
		gone := c.terminated
		c.mu.Unlock()
		if !gone {
			return c
		}
	}
	graphError(w, r, http.StatusNotFound, "itemNotFound", fmt.Sprintf("Call %s does not exist or has ended.", r.PathValue("id")))
	return nil
}

// getCall serves GET /communications/calls/{id}: the call with its state.
func (s *Simulator) getCall(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	c.mu.Lock()
	res := map[string]any{}
	for k, v := range c.resource {
		res[k] = v
	}
	res["state"] = c.state
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

// deleteCall serves DELETE /communications/calls/{id}: 204, then a
// terminated callback.
func (s *Simulator) deleteCall(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	c.mu.Lock()
	c.terminated = true
	steps := c.drawCallSteps(c.faults, []string{"terminated"}, &ResultInfo{Code: 200, Subcode: 5001, Message: "The call was ended by the application."})
	c.mu.Unlock()
	s.log.Info("call deleted", "call_id", c.id)
	w.WriteHeader(http.StatusNoContent)
	s.spawn(func(ctx context.Context) { s.runCallStates(ctx, c, steps) })
}

// callAction serves POST /communications/calls/{id}/{action} and the
// participants routes.
func (s *Simulator) callAction(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	action := r.PathValue("action")
	switch {
	case r.PathValue("pid") != "":
		action = "participants/{pid}/" + action
	case strings.HasSuffix(r.URL.Path, "/participants/invite"):
		action = "participants/invite"
	}
	body, err := readObject(r)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	c.mu.Lock()
	base := c.faults
	c.mu.Unlock()
	faults, err := requestFaults(r, base)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", HeaderFaults+": "+err.Error())
		return
	}
	cc, _ := body["clientContext"].(string)
	if utf8.RuneCountInString(cc) > maxClientContext {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "clientContext is longer than 256 characters.")
		return
	}
	switch strings.ToLower(action) {
	case "answer":
		s.callStateAction(w, c, body, faults, []string{"established"}, nil)
		return
	case "reject":
		s.callStateAction(w, c, body, faults, []string{"terminated"}, &ResultInfo{Code: 200, Subcode: 5000, Message: "The call was rejected."})
		return
	case "transfer":
		s.callStateAction(w, c, body, faults, []string{"transferring", "transferAccepted", "terminated"},
			&ResultInfo{Code: 0, Subcode: 7015, Message: "GracefulTransferCompleted"})
		return
	}
	spec, ok := lookupAction(action)
	if !ok {
		graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Unknown action %q.", action))
		return
	}
	s.operationAction(w, r, c, action, spec, body, cc, faults)
}

// callStateAction answers 202 with no body and notifies the call states.
func (s *Simulator) callStateAction(w http.ResponseWriter, c *call, body map[string]any, faults Faults, states []string, final *ResultInfo) {
	c.mu.Lock()
	if cb, ok := body["callbackUri"].(string); ok && cb != "" {
		c.callbackURI = cb
	}
	if states[len(states)-1] == "terminated" {
		c.terminated = true
	}
	steps := c.drawCallSteps(faults, states, final)
	c.mu.Unlock()
	s.log.Info("call state action", "call_id", c.id, "states", states)
	w.WriteHeader(http.StatusAccepted)
	s.spawn(func(ctx context.Context) { s.runCallStates(ctx, c, steps) })
}

// operationAction answers an action that returns a commsOperation: 200 with
// the operation (status running) and its Location; the race fault holds the
// answer until the final status's callback was delivered.
func (s *Simulator) operationAction(w http.ResponseWriter, r *http.Request, c *call, action string, spec actionSpec, body map[string]any, cc string, faults Faults) {
	c.mu.Lock()
	op := &operation{
		id: newUUID(c.rng), clientContext: cc, odataType: spec.odataType, action: action, spec: spec,
		statuses: []string{"running"}, settled: make(chan struct{}),
	}
	plan := c.drawOperation(faults)
	op.faults = plan.names()
	if spec.cancels {
		for _, other := range c.ops {
			if other.spec.media && other.final == "" {
				other.cancelled = true
			}
		}
	}
	c.ops = append(c.ops, op)
	c.mu.Unlock()
	s.log.Info("operation started", "call_id", c.id, "operation_id", op.id, "action", action,
		"client_context", cc, "faults", op.faults)
	s.spawn(func(ctx context.Context) { s.runOperation(ctx, c, op, plan) })

	res := map[string]any{
		"@odata.type":   spec.odataType,
		"id":            op.id,
		"status":        spec.responseStatus,
		"clientContext": cc,
		"resultInfo":    nil,
	}
	if p, ok := body["participants"]; ok && action == "participants/invite" {
		res["participants"] = p
	}
	if plan.race {
		t := time.NewTimer(s.cfg.RaceHold)
		select {
		case <-op.settled:
		case <-r.Context().Done():
		case <-s.ctx.Done():
		case <-t.C:
			s.log.Warn("race hold ended before the final callback", "call_id", c.id, "operation_id", op.id)
		}
		t.Stop()
	}
	c.mu.Lock()
	op.respondedAt = s.cfg.Now().UTC()
	c.mu.Unlock()
	w.Header().Set("Location", baseURL(r)+"/"+apiVersion(r)+"/communications/calls/"+c.id+"/operations/"+op.id)
	writeJSON(w, http.StatusOK, res)
}
