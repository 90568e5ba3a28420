package ingest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Problem types, relative URIs documented in the README.
const (
	ProblemInvalid      = "/problems/invalid-input"
	ProblemUnauthorized = "/problems/unauthorized"
	ProblemTooLarge     = "/problems/too-large"
	ProblemContentType  = "/problems/unsupported-media-type"
	ProblemUnavailable  = "/problems/store-unavailable"
)

// writeProblem answers with a problem+json body. A 503 carries Retry-After.
func writeProblem(w http.ResponseWriter, status int, typ, detail string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(max(1, int(retryAfter.Seconds()))))
	}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="commsops"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail})
}
