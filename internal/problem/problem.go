// Package problem writes RFC 9457 problem details (application/problem+json),
// the error answer of every commsops HTTP route.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Details is an RFC 9457 problem detail.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Problem types: relative URIs documented in the README.
const (
	Invalid      = "/problems/invalid-input"
	Unauthorized = "/problems/unauthorized"
	TooLarge     = "/problems/too-large"
	ContentType  = "/problems/unsupported-media-type"
	Unavailable  = "/problems/store-unavailable"
	NotFound     = "/problems/not-found"
)

// Write answers with a problem+json body. A 503 carries Retry-After (at
// least 1s), a 401 a Bearer challenge.
func Write(w http.ResponseWriter, status int, typ, detail string, retryAfter time.Duration) {
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
	_ = json.NewEncoder(w).Encode(Details{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail})
}
