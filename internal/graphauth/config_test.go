package graphauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" valid; else a part of the message
	}{
		{"audience only", Config{Audience: "app"}, ""},
		{"everything", Config{Audience: "app", Issuers: []string{"https://i"}, OpenIDConfigURL: "https://x/openid",
			Tenants: []string{"t"}, Leeway: time.Second, RefreshInterval: time.Hour, MinRefreshInterval: time.Second}, ""},
		{"no audience", Config{}, "audience"},
		{"blank audience", Config{Audience: "  "}, "audience"},
		{"negative leeway", Config{Audience: "app", Leeway: -time.Second}, "leeway"},
		{"negative refresh interval", Config{Audience: "app", RefreshInterval: -time.Second}, "refresh interval"},
		{"negative minimum refresh interval", Config{Audience: "app", MinRefreshInterval: -time.Second}, "minimum refresh interval"},
		{"empty issuer", Config{Audience: "app", Issuers: []string{""}}, "issuer"},
		{"empty tenant", Config{Audience: "app", Tenants: []string{"t", ""}}, "tenant"},
		{"relative OpenID URL", Config{Audience: "app", OpenIDConfigURL: "/openid"}, "absolute"},
		{"ftp OpenID URL", Config{Audience: "app", OpenIDConfigURL: "ftp://x/openid"}, "absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig naming %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Audience: "app"}.withDefaults()
	if !slices.Equal(c.Issuers, []string{"https://api.botframework.com", "https://graph.microsoft.com"}) ||
		c.OpenIDConfigURL != "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration" ||
		c.Leeway != time.Minute || c.RefreshInterval != 2*time.Hour || c.MinRefreshInterval != time.Minute ||
		c.HTTPClient == nil || c.HTTPClient.Timeout != DefaultHTTPTimeout || len(c.Tenants) != 0 {
		t.Fatalf("defaults %+v", c)
	}
	issuers := []string{"https://a"}
	c = Config{Audience: "app", Issuers: issuers}.withDefaults()
	issuers[0] = "changed"
	if c.Issuers[0] != "https://a" {
		t.Fatal("the config shares the caller's issuer slice")
	}
}

// TestNewVerifierFails: NewVerifier fails fast, wrapping ErrKeysUnavailable
// (or ErrConfig) and naming what it could not fetch.
func TestNewVerifierFails(t *testing.T) {
	p := newIDP(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/not-json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })
	mux.HandleFunc("/no-jwks-uri", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"issuer":"x"}`)) })
	mux.HandleFunc("/bad-jwks-uri", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"jwks_uri":"/keys"}`)) })
	mux.HandleFunc("/dead-jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"jwks_uri":"http://127.0.0.1:1/keys"}`))
	})
	other := httptest.NewServer(mux)
	t.Cleanup(other.Close)

	cases := []struct {
		name    string
		url     string
		jwks    func() // makes p's JWKS fail
		want    error
		mention string
	}{
		{"OpenID configuration unreachable", "http://127.0.0.1:1/openid", nil, ErrKeysUnavailable, "127.0.0.1:1"},
		{"OpenID configuration 404", other.URL + "/404", nil, ErrKeysUnavailable, "404"},
		{"OpenID configuration not JSON", other.URL + "/not-json", nil, ErrKeysUnavailable, "not JSON"},
		{"OpenID configuration without jwks_uri", other.URL + "/no-jwks-uri", nil, ErrKeysUnavailable, "no jwks_uri"},
		{"relative jwks_uri", other.URL + "/bad-jwks-uri", nil, ErrKeysUnavailable, "jwks_uri"},
		{"JWKS unreachable", other.URL + "/dead-jwks", nil, ErrKeysUnavailable, "127.0.0.1:1"},
		{"JWKS 500", p.openIDURL(), func() { p.failJWKS(http.StatusInternalServerError, "") }, ErrKeysUnavailable, "500"},
		{"JWKS not JSON", p.openIDURL(), func() { p.failJWKS(0, "not json") }, ErrKeysUnavailable, "/jwks"},
		{"JWKS without keys", p.openIDURL(), func() { p.failJWKS(0, `{"keys":[]}`) }, ErrKeysUnavailable, "no usable"},
		{"JWKS with only unusable keys", p.openIDURL(), func() { p.serveJWKSFile(t, "all-unusable") }, ErrKeysUnavailable, "no usable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.failJWKS(0, "")
			if tc.jwks != nil {
				tc.jwks()
			}
			start := time.Now()
			v, err := NewVerifier(t.Context(), Config{Audience: testAudience, OpenIDConfigURL: tc.url}, quietLog())
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want %v naming %q", err, tc.want, tc.mention)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("NewVerifier took %s to fail", d)
			}
		})
	}
	t.Run("no audience", func(t *testing.T) {
		if _, err := NewVerifier(t.Context(), Config{OpenIDConfigURL: p.openIDURL()}, quietLog()); !errors.Is(err, ErrConfig) {
			t.Fatalf("err = %v, want ErrConfig", err)
		}
	})
	t.Run("context already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := NewVerifier(ctx, Config{Audience: testAudience, OpenIDConfigURL: p.openIDURL()}, quietLog()); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
	})
	t.Run("nil logger", func(t *testing.T) {
		p.failJWKS(0, "")
		// Logs to slog.Default (a few lines on stderr); no global is changed.
		v, err := NewVerifier(t.Context(), Config{Audience: testAudience, OpenIDConfigURL: p.openIDURL()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
	})
}
