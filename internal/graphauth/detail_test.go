package graphauth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestVerifyErrorsNameNoInfrastructure: on every failure path, Verify's
// error (the ingest's 401 detail) wraps the sentinel of the failed check
// and names no URL, host, upstream error or refresh timing, whatever the
// JWKS endpoint does meanwhile (fails, drops the connection, serves
// garbage or unusable keys, hangs); those go to the log.
func TestVerifyErrorsNameNoInfrastructure(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	rec := &logRecorder{}
	v := startVerifierLog(t, p, clock, func(c *Config) {
		c.Tenants = []string{testTenant}
		c.HTTPClient = &http.Client{} // only release ends the hang below
	}, slog.New(rec))
	now := clock.Now()
	u, err := url.Parse(p.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "upstream-marker-93c1"
	// Case-sensitive substrings no detail may contain.
	forbidden := []string{
		p.srv.URL, u.Host, u.Hostname(), "/jwks", "/openid", "http", "://", marker,
		"503", "500", "Service Unavailable", "Internal Server Error", "invalid character", "EOF", "connection",
		"refresh", "fetch", "took", "timeout", "deadline", "context", "canceled",
		"JWKS", "OpenID", "usable", "entries", "skipped",
	}
	k1, k2, k3 := p.key("k1"), p.key("k2"), p.key("k3")
	good := goodClaims(now)
	sign := func(c claimSet) string { return "Bearer " + rs(t, k1, "RS256", "k1", c) }
	tokK2 := "Bearer " + rs(t, k2, "RS256", "k2", good)

	cases := []struct {
		name    string
		serve   func()        // the JWKS endpoint's behaviour from now on
		advance time.Duration // clock advance first (2m: a refresh is allowed)
		hang    bool          // the JWKS endpoint hangs during the case
		header  string
		want    error
	}{
		{name: "missing token", header: "", want: ErrMissingToken},
		{name: "not Bearer", header: "Basic dXNlcjpwYXNz", want: ErrMalformedToken},
		{name: "not a JWS", header: "Bearer aaaa.bbbb.cccc", want: ErrMalformedToken},
		{name: "alg none", header: "Bearer " + unsigned(t, "none", "k1", good), want: ErrUnsupportedAlg},
		{name: "HS256", header: "Bearer " + hs256(t, []byte("secret"), "k1", good), want: ErrUnsupportedAlg},
		{name: "bad signature", header: "Bearer " + rs(t, k3, "RS256", "k1", good), want: ErrBadSignature},
		{name: "no kid", header: "Bearer " + rs(t, k1, "RS256", "", good), want: ErrUnknownKey},
		{name: "expired", header: sign(good.with(func(c claimSet) { c["exp"] = now.Add(-time.Hour).Unix() })), want: ErrExpired},
		{name: "not yet valid", header: sign(good.with(func(c claimSet) { c["nbf"] = now.Add(time.Hour).Unix() })), want: ErrNotYetValid},
		{name: "wrong audience", header: sign(good.with(func(c claimSet) { c["aud"] = "other-bot" })), want: ErrAudience},
		{name: "wrong issuer", header: sign(good.with(func(c claimSet) { c["iss"] = "evil-issuer" })), want: ErrIssuer},
		{name: "wrong tenant", header: sign(good.with(func(c claimSet) { c["tid"] = "tenant-b" })), want: ErrTenant},
		{name: "no tenant", header: sign(good.with(func(c claimSet) { delete(c, "tid") })), want: ErrTenant},
		{name: "unknown kid, refresh rate-limited", header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS answers 503", serve: func() { p.failJWKS(http.StatusServiceUnavailable, "") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS answers 500", serve: func() { p.failJWKS(http.StatusInternalServerError, "") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS drops the connection", serve: func() { p.failJWKS(dropConnection, "") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS is not JSON", serve: func() { p.failJWKS(0, "<html>"+marker+"</html>") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS is empty", serve: func() { p.serveJWKSFile(t, "empty") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS holds only unusable keys", serve: func() { p.serveJWKSFile(t, "all-unusable") },
			advance: 2 * time.Minute, header: tokK2, want: ErrUnknownKey},
		{name: "unknown kid, JWKS hangs", serve: func() { p.failJWKS(0, "") },
			advance: 2 * time.Minute, hang: true, header: tokK2, want: ErrUnknownKey},
	}
	check := func(t *testing.T, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		for _, f := range forbidden {
			if strings.Contains(err.Error(), f) {
				t.Errorf("the detail %q names %q", err, f)
			}
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.serve != nil {
				tc.serve()
			}
			var entered <-chan struct{}
			release := func() {}
			if tc.hang {
				entered, release = p.hangJWKS(t)
			}
			clock.Advance(tc.advance)
			n, _ := v.keys.refreshWatch()
			kicks := v.keys.kicks.Load()
			_, err := v.Verify(t.Context(), tc.header)
			check(t, err, tc.want)
			if v.keys.kicks.Load() == kicks {
				if tc.advance != 0 {
					t.Fatal("no refresh was asked for")
				}
				return
			}
			if tc.hang {
				select {
				case <-entered:
				case <-time.After(30 * time.Second):
					t.Fatal("the refresh never reached the JWKS endpoint")
				}
				_, err := v.Verify(t.Context(), tc.header) // while the refresh hangs
				check(t, err, tc.want)
				release()
			}
			awaitRefresh(t, v, n)
			_, err = v.Verify(t.Context(), tc.header) // after the refresh
			check(t, err, tc.want)
		})
	}
	t.Run("unknown kid after Close", func(t *testing.T) {
		clock.Advance(2 * time.Minute)
		v.Close()
		_, err := v.Verify(t.Context(), tokK2)
		check(t, err, ErrKeysUnavailable)
	})

	// What the details leave out is in the log.
	for _, want := range []string{"503", "500", "EOF", "invalid character"} {
		found := false
		for _, lr := range rec.find("graph signing keys refresh failed; keeping the cached keys") {
			found = found || strings.Contains(lr.attrs["err"], want) && lr.attrs["jwks"] == p.srv.URL+"/jwks"
		}
		for _, lr := range rec.find("graph signing keys refresh returned no usable key; keeping the cached keys") {
			found = found || strings.Contains(lr.attrs["err"], want) && lr.attrs["jwks"] == p.srv.URL+"/jwks"
		}
		if !found {
			t.Errorf("no refresh failure logged with %q and the JWKS URL", want)
		}
	}
}
