package main

import (
	"testing"

	"github.com/commsops/commsops/internal/service/servicetest"
)

// setEnv sets the ingest's environment for one test against the NATS server
// at natsURL, listening on addr ("" for a free one): a free operations API
// address, no authentication, only errors logged. Pairs of further
// variables and values follow, and override these.
func setEnv(t *testing.T, natsURL, addr string, pairs ...string) {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("setEnv: odd number of variables and values: %q", pairs)
	}
	if addr == "" {
		addr = servicetest.FreeAddr(t)
	}
	defaults := []string{
		"NATS_URL", natsURL,
		"INGEST_ADDR", addr,
		"INGEST_API_ADDR", servicetest.FreeAddr(t),
		"INGEST_AUTH", "none",
		"COMMSOPS_LOG_LEVEL", "error",
	}
	for _, kv := range [][]string{defaults, pairs} {
		for i := 0; i < len(kv); i += 2 {
			t.Setenv(kv[i], kv[i+1])
		}
	}
}
