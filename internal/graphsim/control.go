package graphsim

import (
	"errors"
	"net/http"
	"time"
)

// Paths of the key discovery documents.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	JWKSPath         = "/.well-known/jwks.json"
)

// controlRoutes registers the OpenID configuration, the keys and the control
// API under /graphsim/v1.
func (s *Simulator) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+OpenIDConfigPath, s.openIDConfig)
	mux.HandleFunc("GET "+JWKSPath, s.jwks)
	mux.HandleFunc("POST /graphsim/v1/rotate-key", s.rotateKey)
	mux.HandleFunc("GET /graphsim/v1/calls", s.listCalls)
	mux.HandleFunc("GET /graphsim/v1/calls/{id}", s.callTruth)
}

// openIDConfig serves the OpenID configuration whose jwks_uri is JWKSPath on
// the address the request reached.
func (s *Simulator) openIDConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"jwks_uri":                              baseURL(r) + JWKSPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
	})
}

// jwks serves the published keys.
func (s *Simulator) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := s.keys.jwks()
	if err != nil {
		graphError(w, r, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// rotateKey serves POST /graphsim/v1/rotate-key?after=<duration>.
func (s *Simulator) rotateKey(w http.ResponseWriter, r *http.Request) {
	var after time.Duration
	if v := r.URL.Query().Get("after"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "after is not a duration such as 30s")
			return
		}
		after = d
	}
	kid, err := s.RotateKey(after)
	if err != nil {
		graphError(w, r, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": kid, "signingFrom": s.cfg.Now().Add(after).UTC()})
}

// listCalls serves GET /graphsim/v1/calls: the call ids in creation order.
func (s *Simulator) listCalls(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"calls": s.CallIDs()})
}

// callTruth serves GET /graphsim/v1/calls/{id}: the ground truth.
func (s *Simulator) callTruth(w http.ResponseWriter, r *http.Request) {
	t, err := s.Truth(r.PathValue("id"))
	if errors.Is(err, ErrUnknownCall) {
		graphError(w, r, http.StatusNotFound, "itemNotFound", "No call "+r.PathValue("id")+".")
		return
	}
	writeJSON(w, http.StatusOK, t)
}
