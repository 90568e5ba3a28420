package graphauth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	p := newIDP(t)
	v := startVerifier(t, p, nil, func(c *Config) { c.Tenants = []string{testTenant, "tenant-z"} })
	now := time.Now()
	good := goodClaims(now)
	k1, other := p.key("k1"), p.key("k3") // k3 is not published
	sign := func(c any) string { return rs(t, k1, "RS256", "k1", c) }

	pubDER, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := sign(good)
	seg := strings.Split(valid, ".")
	tamperedPayload := seg[0] + "." + b64JSON(t, good.with(func(c claimSet) { c["tid"] = "tenant-evil" })) + "." + seg[2]
	sigBytes := []byte(seg[2])
	if sigBytes[10] == 'A' { // changes one base64url character of the signature
		sigBytes[10] = 'B'
	} else {
		sigBytes[10] = 'A'
	}
	tamperedSig := seg[0] + "." + seg[1] + "." + string(sigBytes)

	cases := []struct {
		name   string
		header string
		want   error  // nil: accepted
		names  string // a string the error message must contain
	}{
		{name: "valid", header: "Bearer " + valid},
		{name: "scheme in lower case", header: "bearer " + valid},
		{name: "scheme in upper case, extra spaces", header: "  BEARER   " + valid + " "},
		{name: "aud as an array naming the bot", header: "Bearer " + sign(good.with(func(c claimSet) { c["aud"] = []string{"other", testAudience} }))},
		{name: "second accepted issuer", header: "Bearer " + sign(good.with(func(c claimSet) { c["iss"] = "https://graph.microsoft.com" }))},
		{name: "second accepted tenant", header: "Bearer " + sign(good.with(func(c claimSet) { c["tid"] = "tenant-z" }))},
		{name: "expired within the leeway", header: "Bearer " + sign(good.with(func(c claimSet) { c["exp"] = now.Add(-30 * time.Second).Unix() }))},
		{name: "nbf ahead within the leeway", header: "Bearer " + sign(good.with(func(c claimSet) { c["nbf"] = now.Add(30 * time.Second).Unix() }))},
		{name: "no nbf", header: "Bearer " + sign(good.with(func(c claimSet) { delete(c, "nbf") }))},

		{name: "wrong audience", header: "Bearer " + sign(good.with(func(c claimSet) { c["aud"] = "someone-elses-bot" })), want: ErrAudience, names: "someone-elses-bot"},
		{name: "no audience", header: "Bearer " + sign(good.with(func(c claimSet) { delete(c, "aud") })), want: ErrAudience},
		{name: "wrong issuer", header: "Bearer " + sign(good.with(func(c claimSet) { c["iss"] = "https://evil.example" })), want: ErrIssuer, names: "https://evil.example"},
		{name: "issuer differing only in a trailing slash", header: "Bearer " + sign(good.with(func(c claimSet) { c["iss"] = testIssuer + "/" })), want: ErrIssuer},
		{name: "wrong tenant", header: "Bearer " + sign(good.with(func(c claimSet) { c["tid"] = "tenant-b" })), want: ErrTenant, names: "tenant-b"},
		{name: "no tenant while tenants are set", header: "Bearer " + sign(good.with(func(c claimSet) { delete(c, "tid") })), want: ErrTenant, names: "no tid"},
		{name: "expired", header: "Bearer " + sign(good.with(func(c claimSet) { c["exp"] = now.Add(-5 * time.Minute).Unix() })), want: ErrExpired},
		{name: "no exp", header: "Bearer " + sign(good.with(func(c claimSet) { delete(c, "exp") })), want: ErrExpired, names: "no exp"},
		{name: "not yet valid", header: "Bearer " + sign(good.with(func(c claimSet) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), want: ErrNotYetValid},

		{name: "unknown key id", header: "Bearer " + rs(t, other, "RS256", "k3", good), want: ErrUnknownKey, names: `"k3"`},
		{name: "no key id", header: "Bearer " + rs(t, k1, "RS256", "", good), want: ErrUnknownKey, names: "no key id"},
		{name: "alg none", header: "Bearer " + unsigned(t, "none", "k1", good), want: ErrUnsupportedAlg, names: "none"},
		{name: "alg None", header: "Bearer " + unsigned(t, "None", "k1", good), want: ErrUnsupportedAlg},
		{name: "no alg", header: "Bearer " + unsigned(t, "", "k1", good), want: ErrUnsupportedAlg},
		{name: "HS256 keyed with the public key PEM", header: "Bearer " + hs256(t, pubPEM, "k1", good), want: ErrUnsupportedAlg, names: "HS256"},
		{name: "HS256 keyed with the public key DER", header: "Bearer " + hs256(t, pubDER, "k1", good), want: ErrUnsupportedAlg},
		{name: "HS256 keyed with the modulus", header: "Bearer " + hs256(t, k1.PublicKey.N.Bytes(), "k1", good), want: ErrUnsupportedAlg},
		{name: "RS512 with the right key", header: "Bearer " + rs(t, k1, "RS512", "k1", good), want: ErrUnsupportedAlg, names: "RS512"},
		{name: "PS256 with the right key", header: "Bearer " + rs(t, k1, "PS256", "k1", good), want: ErrUnsupportedAlg},
		{name: "tampered payload", header: "Bearer " + tamperedPayload, want: ErrBadSignature},
		{name: "tampered signature", header: "Bearer " + tamperedSig, want: ErrBadSignature},
		{name: "signed by another key under k1's id", header: "Bearer " + rs(t, other, "RS256", "k1", good), want: ErrBadSignature},
		{name: "signature stripped", header: "Bearer " + seg[0] + "." + seg[1] + ".", want: ErrBadSignature},

		{name: "missing header", header: "", want: ErrMissingToken},
		{name: "blank header", header: "   ", want: ErrMissingToken},
		{name: "Bearer without a token", header: "Bearer", want: ErrMissingToken},
		{name: "Basic scheme", header: "Basic dXNlcjpwYXNzd29yZA==", want: ErrMalformedToken, names: "not Bearer"},
		{name: "token without a scheme", header: valid, want: ErrMalformedToken},
		{name: "two tokens", header: "Bearer " + valid + " " + valid, want: ErrMalformedToken},
		{name: "garbage", header: "Bearer this-is-not-a-jwt-at-all", want: ErrMalformedToken},
		{name: "garbage with dots", header: "Bearer aaaa.bbbb.cccc", want: ErrMalformedToken},
		{name: "four segments", header: "Bearer " + valid + ".x", want: ErrMalformedToken},
		{name: "JSON serialization", header: `Bearer {"payload":"` + seg[1] + `","protected":"` + seg[0] + `","signature":"` + seg[2] + `"}`, want: ErrMalformedToken},
		{name: "signed payload that is not JSON", header: "Bearer " + sign("just some text, signed"), want: ErrMalformedToken},
		{name: "signed exp that is not a number", header: "Bearer " + sign(good.with(func(c claimSet) { c["exp"] = "tomorrow" })), want: ErrMalformedToken},
		{name: "oversized", header: "Bearer " + strings.Repeat("a", maxTokenLen+1), want: ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tc.header)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				if c != nil {
					t.Fatalf("claims %+v returned with an error", c)
				}
				if tc.names != "" && !strings.Contains(err.Error(), tc.names) {
					t.Errorf("error %q does not name %q", err, tc.names)
				}
				for _, f := range strings.Fields(tc.header) {
					assertNoLeak(t, err, f)
				}
				return
			}
			if c.Audience != testAudience || c.Subject != "graph-calling" || c.ExpiresAt.IsZero() {
				t.Fatalf("claims %+v", c)
			}
		})
	}

	t.Run("claims of a valid token", func(t *testing.T) {
		c, err := v.Verify(t.Context(), "Bearer "+valid)
		if err != nil {
			t.Fatal(err)
		}
		want := Claims{Issuer: testIssuer, Audience: testAudience, TenantID: testTenant, Subject: "graph-calling",
			ExpiresAt: time.Unix(good["exp"].(int64), 0)}
		if !c.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("ExpiresAt %v, want %v", c.ExpiresAt, want.ExpiresAt)
		}
		c.ExpiresAt = want.ExpiresAt
		if *c != want {
			t.Fatalf("claims %+v, want %+v", *c, want)
		}
	})
}

// TestVerifyTenants: the tenant check is off when Tenants is empty and on
// when it is set.
func TestVerifyTenants(t *testing.T) {
	p := newIDP(t)
	now := time.Now()
	k1 := p.key("k1")
	cases := []struct {
		name    string
		tenants []string
		tid     any // nil: no tid claim
		want    error
	}{
		{"off: any tenant", nil, "tenant-anything", nil},
		{"off: no tid", nil, nil, nil},
		{"on: listed", []string{"t1", "t2"}, "t2", nil},
		{"on: not listed", []string{"t1", "t2"}, "t3", ErrTenant},
		{"on: no tid", []string{"t1"}, nil, ErrTenant},
		{"on: tid not a string", []string{"t1"}, 42, ErrTenant},
		{"on: case matters", []string{"t1"}, "T1", ErrTenant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := startVerifier(t, p, nil, func(c *Config) { c.Tenants = tc.tenants })
			claims := goodClaims(now).with(func(c claimSet) {
				delete(c, "tid")
				if tc.tid != nil {
					c["tid"] = tc.tid
				}
			})
			got, err := v.Verify(t.Context(), "Bearer "+rs(t, k1, "RS256", "k1", claims))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil {
				if s, _ := tc.tid.(string); got.TenantID != s {
					t.Fatalf("TenantID %q, want %q", got.TenantID, s)
				}
			}
		})
	}
}

// TestVerifyLeeway: exp and nbf are checked against the configured leeway.
func TestVerifyLeeway(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, func(c *Config) { c.Leeway = 10 * time.Second })
	k1 := p.key("k1")
	now := clock.Now()
	cases := []struct {
		name string
		exp  time.Duration // from now
		nbf  time.Duration
		want error
	}{
		{"fresh", time.Hour, -time.Minute, nil},
		{"exp 9s ago", -9 * time.Second, -time.Hour, nil},
		{"exp 11s ago", -11 * time.Second, -time.Hour, ErrExpired},
		{"nbf in 9s", time.Hour, 9 * time.Second, nil},
		{"nbf in 11s", time.Hour, 11 * time.Second, ErrNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := goodClaims(now).with(func(c claimSet) {
				c["exp"] = now.Add(tc.exp).Unix()
				c["nbf"] = now.Add(tc.nbf).Unix()
			})
			_, err := v.Verify(t.Context(), "Bearer "+rs(t, k1, "RS256", "k1", c))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("expires as the clock moves", func(t *testing.T) {
		tok := "Bearer " + rs(t, k1, "RS256", "k1", goodClaims(now).with(func(c claimSet) { c["exp"] = now.Add(time.Minute).Unix() }))
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute + 11*time.Second)
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
	})
}

// TestVerifyConcurrent: many goroutines verify good and bad tokens at once
// (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	p := newIDP(t)
	v := startVerifier(t, p, nil, nil)
	now := time.Now()
	good := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	bad := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now).with(func(c claimSet) { c["aud"] = "x" }))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			for range 20 {
				if i%2 == 0 {
					if _, err := v.Verify(context.Background(), good); err != nil {
						errs <- err
						return
					}
				} else if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrAudience) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestVerifyClipsEchoedValues: claim and header values quoted in errors are
// cut short, so a forged token cannot flood the logs.
func TestVerifyClipsEchoedValues(t *testing.T) {
	p := newIDP(t)
	v := startVerifier(t, p, nil, nil)
	long := strings.Repeat("x", 5000)
	k1 := p.key("k1")
	good := goodClaims(time.Now())
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"audience", rs(t, k1, "RS256", "k1", good.with(func(c claimSet) { c["aud"] = long })), ErrAudience},
		{"issuer", rs(t, k1, "RS256", "k1", good.with(func(c claimSet) { c["iss"] = long })), ErrIssuer},
		{"key id", rs(t, k1, "RS256", long, good), ErrUnknownKey},
		{"alg", unsigned(t, long, "k1", good), ErrUnsupportedAlg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), "Bearer "+tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if n := len(err.Error()); n > 400 {
				t.Fatalf("a %d-byte message", n)
			}
		})
	}
}
