package graphsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/graphauth"
)

const (
	testAudience = "2891555a-92ff-42e6-80fa-6e1300c6b5c6"
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

// verifyingReceiver is a callback endpoint that answers 202 when
// graphauth's verifier accepts the callback's token and 401 otherwise.
func verifyingReceiver(t *testing.T, v *graphauth.Verifier) (*receiver, func() []error) {
	var (
		mu   sync.Mutex
		errs []error
	)
	rc := newReceiver(t, func(_ int, r *http.Request, _ []byte) int {
		if _, err := v.Verify(r.Context(), r.Header.Get("Authorization")); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return http.StatusUnauthorized
		}
		return http.StatusAccepted
	})
	return rc, func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), errs...)
	}
}

// newVerifier returns graphauth's verifier against the simulator's OpenID
// configuration, as the ingest builds it with INGEST_AUTH=graph.
func newVerifier(t *testing.T, simURL, audience string) *graphauth.Verifier {
	t.Helper()
	v, err := graphauth.NewVerifier(context.Background(), graphauth.Config{
		Audience:           audience,
		Issuers:            []string{DefaultIssuer},
		OpenIDConfigURL:    simURL + OpenIDConfigPath,
		Tenants:            []string{testTenant},
		MinRefreshInterval: time.Millisecond,
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// delivered returns a truth condition: some delivery carrying status was
// answered 2xx.
func delivered(status string) func(CallTruth) bool {
	return func(tr CallTruth) bool {
		return slices.ContainsFunc(tr.Deliveries, func(d Delivery) bool {
			return d.Outcome == OutcomeDelivered && slices.Contains(d.Statuses, status)
		})
	}
}

// TestCallbackJWTVerified: the callbacks' tokens pass internal/graphauth's
// verifier (signature by kid from the simulator's JWKS, exp, nbf, aud, iss,
// tid) at the first attempt; after rotate-key with a delay the new key is
// published but not yet used; after rotate-key without one, callbacks are
// signed with the newest key, which the verifier fetches on the unknown kid
// (the first attempt refused, the redelivery accepted).
func TestCallbackJWTVerified(t *testing.T) {
	sim, ts := startSim(t, Config{Audience: testAudience, Tenant: testTenant, Retry: Retry{Count: 5, Backoff: 20 * time.Millisecond}})
	v := newVerifier(t, ts.URL, testAudience)
	rc, refusals := verifyingReceiver(t, v)

	callID := createCall(t, ts, rc.url())
	tr := waitTruth(t, sim, callID, "established delivered", delivered("established"))
	first := tr.Deliveries[0].Kid
	for _, d := range tr.Deliveries {
		if d.Attempt != 1 || d.Outcome != OutcomeDelivered || d.Kid != first {
			t.Fatalf("delivery %+v, want delivered at once with kid %s (refusals %v)", d, first, refusals())
		}
	}

	// Published now, signing in an hour: callbacks still carry the old kid.
	status, _, body := do(t, http.MethodPost, ts.URL+"/graphsim/v1/rotate-key?after=1h", "")
	var rot struct{ Kid string }
	if status != http.StatusOK || json.Unmarshal(body, &rot) != nil || rot.Kid == "" || rot.Kid == first {
		t.Fatalf("rotate-key: %d %s", status, body)
	}
	if kids := jwksKids(t, ts.URL); !slices.Contains(kids, first) || !slices.Contains(kids, rot.Kid) {
		t.Fatalf("JWKS kids %v, want %s and %s", kids, first, rot.Kid)
	}
	action(t, ts, callID, "playPrompt", "before-rotation")
	tr = waitTruth(t, sim, callID, "first playPrompt final", func(tr CallTruth) bool { return tr.Operations[0].FinalDelivered })
	for _, d := range tr.Deliveries {
		if d.Kid != first || d.Attempt != 1 {
			t.Fatalf("delivery %+v signed before its time", d)
		}
	}

	// Signing now: the verifier learns the key on the unknown kid.
	status, _, body = do(t, http.MethodPost, ts.URL+"/graphsim/v1/rotate-key", "")
	var rot2 struct{ Kid string }
	if status != http.StatusOK || json.Unmarshal(body, &rot2) != nil || rot2.Kid == "" {
		t.Fatalf("rotate-key: %d %s", status, body)
	}
	action(t, ts, callID, "playPrompt", "after-rotation")
	tr = waitTruth(t, sim, callID, "second playPrompt final", func(tr CallTruth) bool {
		return len(tr.Operations) == 2 && tr.Operations[1].FinalDelivered
	})
	var refused, accepted bool
	for _, d := range tr.Deliveries {
		if d.Kid == rot2.Kid {
			refused = refused || d.Status == http.StatusUnauthorized
			accepted = accepted || d.Outcome == OutcomeDelivered
		}
	}
	if !refused || !accepted {
		t.Fatalf("new kid: refused %v, accepted %v; deliveries %+v", refused, accepted, tr.Deliveries)
	}
	for _, err := range refusals() {
		if !errors.Is(err, graphauth.ErrUnknownKey) {
			t.Errorf("refused for another reason than the new kid: %v", err)
		}
	}
}

// TestCallbackJWTWrongAudience: a verifier expecting another audience
// refuses every callback; the simulator gives up after its retries.
func TestCallbackJWTWrongAudience(t *testing.T) {
	sim, ts := startSim(t, Config{Audience: "someone-else", Tenant: testTenant, Retry: Retry{Count: 1, Backoff: time.Millisecond}})
	v := newVerifier(t, ts.URL, testAudience)
	rc, refusals := verifyingReceiver(t, v)
	callID := createCall(t, ts, rc.url())
	tr := waitTruth(t, sim, callID, "both call states given up", func(tr CallTruth) bool {
		n := 0
		for _, d := range tr.Deliveries {
			if d.Outcome == OutcomeGaveUp {
				n++
			}
		}
		return n == 2
	})
	for _, d := range tr.Deliveries {
		if d.Status != http.StatusUnauthorized {
			t.Errorf("delivery %+v", d)
		}
	}
	for _, err := range refusals() {
		if !errors.Is(err, graphauth.ErrAudience) {
			t.Errorf("refusal %v, want a wrong audience", err)
		}
	}
}

// jwksKids returns the kids the simulator's JWKS publishes, found through
// its OpenID configuration.
func jwksKids(t *testing.T, simURL string) []string {
	t.Helper()
	_, _, body := do(t, http.MethodGet, simURL+OpenIDConfigPath, "")
	var cfg struct {
		JWKSURI string `json:"jwks_uri"`
	}
	mustUnmarshal(t, body, &cfg)
	_, _, body = do(t, http.MethodGet, cfg.JWKSURI, "")
	var set struct {
		Keys []struct{ Kid, Alg, Use, Kty string }
	}
	mustUnmarshal(t, body, &set)
	var kids []string
	for _, k := range set.Keys {
		if k.Alg != "RS256" || k.Use != "sig" || k.Kty != "RSA" {
			t.Errorf("key %+v", k)
		}
		kids = append(kids, k.Kid)
	}
	return kids
}
