package graphauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// keyCache holds the JWKS, refreshed on a schedule and, rate-limited, on
// demand. Safe for concurrent use.
type keyCache struct {
	cfg     Config
	jwksURL string

	mu          sync.RWMutex
	set         jwk.Set
	refreshMu   sync.Mutex // one refresh at a time
	lastRefresh time.Time
	refreshes   int
}

// discover reads the OpenID configuration's jwks_uri.
func discover(ctx context.Context, cfg Config) (string, error) {
	body, err := get(ctx, cfg.HTTPClient, cfg.OpenIDConfigURL)
	if err != nil {
		return "", err
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: %s has no jwks_uri", ErrKeysUnavailable, cfg.OpenIDConfigURL)
	}
	return doc.JWKSURI, nil
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrKeysUnavailable, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s answered %d", ErrKeysUnavailable, url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrKeysUnavailable, url, err)
	}
	return body, nil
}

// refresh fetches the JWKS now and replaces the cached set.
func (k *keyCache) refresh(ctx context.Context) error {
	body, err := get(ctx, k.cfg.HTTPClient, k.jwksURL)
	if err != nil {
		return err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("%w: JWKS at %s: %v", ErrKeysUnavailable, k.jwksURL, err)
	}
	k.mu.Lock()
	k.set = set
	k.lastRefresh = k.cfg.Now()
	k.refreshes++
	k.mu.Unlock()
	return nil
}

// key returns the key with id kid, refreshing once when it is unknown and the
// last refresh is older than MinRefreshInterval.
func (k *keyCache) key(ctx context.Context, kid string) (jwk.Key, error) {
	if key, ok := k.lookup(kid); ok {
		return key, nil
	}
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if key, ok := k.lookup(kid); ok { // refreshed by someone else meanwhile
		return key, nil
	}
	k.mu.RLock()
	due := k.cfg.Now().Sub(k.lastRefresh) >= k.cfg.MinRefreshInterval
	k.mu.RUnlock()
	if due {
		if err := k.refresh(ctx); err != nil {
			return nil, err
		}
		if key, ok := k.lookup(kid); ok {
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: key id %q", ErrUnknownKey, kid)
}

func (k *keyCache) lookup(kid string) (jwk.Key, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.set == nil {
		return nil, false
	}
	return k.set.LookupKeyID(kid)
}
