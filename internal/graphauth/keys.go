package graphauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/httprc/v3/errsink"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

const (
	// startupTimeout bounds NewVerifier's first JWKS fetch when the caller's
	// context has no earlier deadline.
	startupTimeout = 30 * time.Second
	// shutdownTimeout bounds Close's wait for the cache's goroutines.
	shutdownTimeout = 5 * time.Second
	// maxRetryInterval bounds the wait before a failed background fetch is
	// retried (httprc retries after the resource's minimum interval).
	maxRetryInterval = 5 * time.Minute
)

// jwks is one registered JWKS URL and its cached set.
type jwks struct {
	url string
	set jwk.CachedSet
}

// keySource holds the JWKS in a jwk.Cache that refreshes it every
// RefreshInterval, re-reads the OpenID configuration on the same schedule to
// follow a moved jwks_uri, and refreshes on demand for unknown kids at most
// once per MinRefreshInterval. Safe for concurrent use.
type keySource struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	cache *jwk.Cache
	cur   atomic.Pointer[jwks]

	// forceMu serialises refreshes for unknown kids; lastForce is the time
	// of the last one (or of the initial fetch).
	forceMu   sync.Mutex
	lastForce time.Time

	// onFetchError, while set, receives the cache's fetch errors (startup).
	sinkMu       sync.Mutex
	onFetchError func(error)
	closed       atomic.Bool

	// bg lives until close; it ends rediscovery and any wait on the cache.
	bg   context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// newKeySource discovers the jwks_uri, fetches the JWKS once (failing with
// ErrKeysUnavailable when it cannot) and starts the background refreshes.
func newKeySource(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) (*keySource, error) {
	jwksURL, err := discover(ctx, cfg.HTTPClient, cfg.OpenIDConfigURL)
	if err != nil {
		return nil, err
	}
	k := &keySource{cfg: cfg, log: log, now: now}
	client := httprc.NewClient(
		httprc.WithWorkers(2),
		httprc.WithHTTPClient(cfg.HTTPClient),
		httprc.WithErrorSink(errsink.NewFunc(k.fetchFailed)),
	)
	// The cache lives until Close, not as long as the caller's ctx.
	cache, err := jwk.NewCache(context.Background(), client)
	if err != nil {
		return nil, fmt.Errorf("%w: starting the JWKS cache: %v", ErrKeysUnavailable, err)
	}
	k.cache = cache
	cur, err := k.register(ctx, jwksURL)
	if err != nil {
		k.shutdown()
		return nil, err
	}
	k.cur.Store(cur)
	k.lastForce = now()

	k.bg, k.stop = context.WithCancel(context.Background())
	k.wg.Add(1)
	go k.rediscover(k.bg)
	return k, nil
}

// register adds jwksURL to the cache and waits for its first fetch; a failed
// fetch ends the wait at once with its cause.
func (k *keySource) register(ctx context.Context, jwksURL string) (*jwks, error) {
	wait, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wait, cancelTimeout := context.WithTimeout(wait, startupTimeout)
	defer cancelTimeout()
	k.sinkMu.Lock()
	k.onFetchError = func(err error) { cancel(err) }
	k.sinkMu.Unlock()
	defer func() {
		k.sinkMu.Lock()
		k.onFetchError = nil
		k.sinkMu.Unlock()
	}()

	err := k.cache.Register(wait, jwksURL,
		jwk.WithHTTPClient(k.cfg.HTTPClient),
		jwk.WithConstantInterval(k.cfg.RefreshInterval),
		jwk.WithMinInterval(min(k.cfg.RefreshInterval, maxRetryInterval)),
	)
	if err != nil {
		if cause := context.Cause(wait); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		_ = k.cache.Unregister(context.Background(), jwksURL)
		return nil, fmt.Errorf("%w: fetching the JWKS at %s: %v", ErrKeysUnavailable, jwksURL, err)
	}
	set, err := k.cache.CachedSet(jwksURL)
	if err != nil {
		_ = k.cache.Unregister(context.Background(), jwksURL)
		return nil, fmt.Errorf("%w: JWKS at %s: %v", ErrKeysUnavailable, jwksURL, err)
	}
	if set.Len() == 0 {
		_ = k.cache.Unregister(context.Background(), jwksURL)
		return nil, fmt.Errorf("%w: the JWKS at %s holds no keys", ErrKeysUnavailable, jwksURL)
	}
	k.log.Info("graph signing keys loaded", "jwks", jwksURL, "keys", set.Len())
	return &jwks{url: jwksURL, set: set}, nil
}

// fetchFailed is the cache's error sink: during register it ends the wait,
// otherwise it logs (the cached keys stay in use).
func (k *keySource) fetchFailed(_ context.Context, err error) {
	if k.closed.Load() {
		return
	}
	k.sinkMu.Lock()
	fn := k.onFetchError
	k.sinkMu.Unlock()
	if fn != nil {
		fn(err)
		return
	}
	k.log.Warn("graph signing keys refresh failed; keeping the cached keys", "err", err)
}

// rediscover re-reads the OpenID configuration every RefreshInterval and
// moves to a new jwks_uri once its keys have been fetched.
func (k *keySource) rediscover(ctx context.Context) {
	defer k.wg.Done()
	t := time.NewTicker(k.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		u, err := discover(ctx, k.cfg.HTTPClient, k.cfg.OpenIDConfigURL)
		if err != nil {
			if ctx.Err() == nil {
				k.log.Warn("re-reading the OpenID configuration failed; keeping the current keys", "err", err)
			}
			continue
		}
		old := k.cur.Load()
		if u == old.url {
			continue
		}
		next, err := k.register(ctx, u)
		if err != nil {
			k.log.Warn("the OpenID configuration names a new jwks_uri whose keys cannot be fetched; keeping the current keys", "jwks", u, "err", err)
			continue
		}
		k.cur.Store(next)
		_ = k.cache.Unregister(ctx, old.url)
		k.log.Info("graph signing keys moved", "from", old.url, "to", u)
	}
}

// key returns the key named kid. When the cached JWKS lacks it, the JWKS is
// refreshed once, unless the last such refresh is younger than
// MinRefreshInterval.
func (k *keySource) key(ctx context.Context, kid string) (jwk.Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: the token names no key id (kid)", ErrUnknownKey)
	}
	if key, ok := k.cur.Load().set.LookupKeyID(kid); ok {
		return key, nil
	}
	k.forceMu.Lock()
	defer k.forceMu.Unlock()
	cur := k.cur.Load()
	if key, ok := cur.set.LookupKeyID(kid); ok { // refreshed meanwhile
		return key, nil
	}
	now := k.now()
	if since := now.Sub(k.lastForce); since < k.cfg.MinRefreshInterval {
		return nil, fmt.Errorf("%w: key id %q is not in the JWKS (last refreshed %s ago, next refresh allowed after %s)",
			ErrUnknownKey, clip(kid), since.Round(time.Millisecond), k.cfg.MinRefreshInterval)
	}
	if k.bg.Err() != nil {
		return nil, fmt.Errorf("%w: key id %q is not in the JWKS and the verifier is closed", ErrKeysUnavailable, clip(kid))
	}
	k.lastForce = now
	// Close ends the wait: the cache's goroutines are gone after it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.bg, cancel)()
	if _, err := k.cache.Refresh(ctx, cur.url); err != nil {
		return nil, fmt.Errorf("%w: refreshing the JWKS at %s for key id %q: %v", ErrKeysUnavailable, cur.url, clip(kid), err)
	}
	if key, ok := cur.set.LookupKeyID(kid); ok {
		k.log.Info("graph signing keys refreshed for a new key id", "kid", clip(kid))
		return key, nil
	}
	return nil, fmt.Errorf("%w: key id %q is not in the JWKS, even after a refresh", ErrUnknownKey, clip(kid))
}

// close stops the background refreshes and waits for their goroutines.
func (k *keySource) close() {
	k.stop()
	k.wg.Wait()
	k.shutdown()
}

func (k *keySource) shutdown() {
	k.closed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := k.cache.Shutdown(ctx); err != nil {
		k.log.Warn("stopping the JWKS cache", "err", err)
	}
}
