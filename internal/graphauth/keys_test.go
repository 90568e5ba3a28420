package graphauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKeyRotation: a token signed with a key the cached JWKS lacks fails
// with ErrUnknownKey; once the server rotates to that key, the next
// unknown-kid refresh (after MinRefreshInterval) picks it up.
func TestKeyRotation(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, func(c *Config) { c.MinRefreshInterval = time.Minute })
	start := p.jwksHits.Load()
	hits := func() int64 { return p.jwksHits.Load() - start }
	now := clock.Now()
	tokK1 := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	tokK2 := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))

	steps := []struct {
		name     string
		advance  time.Duration
		rotate   bool // the server now serves k2 only
		token    string
		want     error
		wantHits int64 // JWKS fetches since start, after the step
	}{
		{"k1 verifies from the cache", 0, false, tokK1, nil, 0},
		{"k2 right after start: rate-limited, no fetch", 0, false, tokK2, ErrUnknownKey, 0},
		{"k2 after the interval: one refresh, still unknown", 2 * time.Minute, false, tokK2, ErrUnknownKey, 1},
		{"the server rotates to k2; within the interval no refresh", 30 * time.Second, true, tokK2, ErrUnknownKey, 1},
		{"after the interval the refresh picks up k2", time.Minute, false, tokK2, nil, 2},
		{"k2 again from the cache", 0, false, tokK2, nil, 2},
		{"k1 is gone after the rotation", 0, false, tokK1, ErrUnknownKey, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			if s.rotate {
				p.publish("/jwks", "k2")
			}
			_, err := v.Verify(t.Context(), s.token)
			if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, s.want)
			}
			if got := hits(); got != s.wantHits {
				t.Fatalf("%d JWKS fetches since start, want %d", got, s.wantHits)
			}
		})
	}
}

// TestRefreshRateLimit: a concurrent flood of tokens with unknown kids
// triggers at most one JWKS refresh per MinRefreshInterval.
func TestRefreshRateLimit(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, func(c *Config) { c.MinRefreshInterval = time.Minute })
	start := p.jwksHits.Load()
	now := clock.Now()
	forger := p.key("k3") // never published

	flood := func(t *testing.T, round int) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 100 {
			tok := "Bearer " + rs(t, forger, "RS256", fmt.Sprintf("forged-%d-%d", round, i), goodClaims(now))
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrUnknownKey) {
					t.Errorf("err = %v, want ErrUnknownKey", err)
				}
			})
		}
		wg.Wait()
	}
	rounds := []struct {
		name     string
		advance  time.Duration
		wantHits int64 // JWKS fetches since start, after the round
	}{
		{"right after start (the initial fetch counts)", 0, 0},
		{"59s later", 59 * time.Second, 0},
		{"61s after start: one refresh", 2 * time.Second, 1},
		{"30s after that refresh", 30 * time.Second, 1},
		{"61s after that refresh: one more", 31 * time.Second, 2},
		{"immediately again", 0, 2},
		{"an hour later: one more", time.Hour, 3},
	}
	for i, r := range rounds {
		t.Run(r.name, func(t *testing.T) {
			clock.Advance(r.advance)
			flood(t, i)
			if got := p.jwksHits.Load() - start; got != r.wantHits {
				t.Fatalf("%d JWKS fetches since start, want %d", got, r.wantHits)
			}
		})
	}
}

// TestRefreshFailure: when the refresh for an unknown kid fails the error
// wraps ErrKeysUnavailable; the cached keys keep verifying.
func TestRefreshFailure(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, nil)
	now := clock.Now()
	p.failJWKS(http.StatusServiceUnavailable, "")
	clock.Advance(2 * time.Minute)
	tok := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))
	_, err := v.Verify(t.Context(), tok)
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want ErrKeysUnavailable naming the 503", err)
	}
	assertNoLeak(t, err, strings.TrimPrefix(tok, "Bearer "))
	if _, err := v.Verify(t.Context(), "Bearer "+rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))); err != nil {
		t.Fatalf("a cached key after a failed refresh: %v", err)
	}
}

// TestBackgroundRefresh: the JWKS is re-read every RefreshInterval without
// any unknown kid, and a jwks_uri moved in the OpenID configuration is
// followed.
func TestBackgroundRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for background refreshes")
	}
	p := newIDP(t)
	v := startVerifier(t, p, nil, func(c *Config) {
		c.RefreshInterval = time.Second
		c.MinRefreshInterval = time.Hour // no unknown-kid refresh can help
	})
	now := time.Now()
	waitFor := func(t *testing.T, kid string) {
		t.Helper()
		tok := "Bearer " + rs(t, p.key(kid), "RS256", kid, goodClaims(now))
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := v.Verify(t.Context(), tok)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey until the refresh", err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %s not picked up by the background refresh: %v", kid, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Run("same jwks_uri, new key", func(t *testing.T) {
		p.publish("/jwks", "k1", "k2")
		waitFor(t, "k2")
	})
	t.Run("moved jwks_uri", func(t *testing.T) {
		p.publish("/jwks-moved", "k3")
		p.moveJWKS("/jwks-moved")
		waitFor(t, "k3")
	})
}

// TestClose: Close is idempotent, stops the background refreshes, and
// Verify keeps working on the cached keys (an unknown kid then fails fast).
func TestClose(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v, err := newVerifier(t.Context(), Config{Audience: testAudience, OpenIDConfigURL: p.openIDURL()}, quietLog(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	v.Close()
	now := clock.Now()
	if _, err := v.Verify(t.Context(), "Bearer "+rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))); err != nil {
		t.Fatalf("cached key after Close: %v", err)
	}
	clock.Advance(time.Hour)
	hits := p.jwksHits.Load()
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(t.Context(), "Bearer "+rs(t, p.key("k2"), "RS256", "k2", goodClaims(now).with(func(c claimSet) {
			c["exp"] = now.Add(2 * time.Hour).Unix()
		})))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("unknown kid after Close: %v, want ErrKeysUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify hangs after Close")
	}
	if p.jwksHits.Load() != hits {
		t.Fatal("the JWKS was fetched after Close")
	}
}
