package graphauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

const (
	// startupTimeout bounds NewVerifier's first fetches when the caller's
	// context has no earlier deadline.
	startupTimeout = 30 * time.Second
	// refreshTimeout bounds each background refresh (the OpenID
	// configuration and the JWKS together).
	refreshTimeout = 30 * time.Second
)

// Why a background refresh runs (the reason field of its log records).
const (
	reasonSchedule   = "schedule"
	reasonUnknownKid = "unknown kid"
)

// keySet is the usable keys fetched from one jwks_uri.
type keySet struct {
	url string
	set jwk.Set
}

// keySource holds the usable keys of the JWKS. One goroutine refreshes them:
// every RefreshInterval (re-reading the OpenID configuration first, to
// follow a moved jwks_uri) and when an unknown kid asks for it, at most once
// per MinRefreshInterval. Lookups never wait for a refresh, and a JWKS
// without a usable key never replaces the cached keys. Safe for concurrent
// use.
type keySource struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	cur atomic.Pointer[keySet]

	// mu guards lastKick, the time of the last refresh requested for an
	// unknown kid (or of the initial fetch).
	mu       sync.Mutex
	lastKick time.Time
	// kick carries the kid that asked for a refresh to the refresher; its
	// one slot lets at most one request wait behind the refresh in flight.
	kick chan string
	// kicks counts the refresh requests kick accepted.
	kicks atomic.Int64

	// done counts finished background refreshes; doneCh is closed and
	// replaced when one finishes.
	doneMu sync.Mutex
	done   int64
	doneCh chan struct{}

	// bg lives until close; it ends the refresher and any fetch in flight.
	bg   context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// newKeySource discovers the jwks_uri and fetches the JWKS once, failing
// with ErrKeysUnavailable (naming the URL and the cause) when it cannot or
// when the JWKS holds no usable key, then starts the background refresher.
func newKeySource(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) (*keySource, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	jwksURL, err := discover(ctx, cfg.HTTPClient, cfg.OpenIDConfigURL)
	if err != nil {
		return nil, err
	}
	set, skipped, err := fetchKeys(ctx, cfg.HTTPClient, jwksURL)
	logSkipped(log, jwksURL, skipped)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	log.Info("graph signing keys loaded", "jwks", jwksURL, "keys", set.Len())
	k := &keySource{
		cfg: cfg, log: log, now: now,
		lastKick: now(),
		kick:     make(chan string, 1),
		doneCh:   make(chan struct{}),
	}
	k.cur.Store(&keySet{url: jwksURL, set: set})
	k.bg, k.stop = context.WithCancel(context.Background())
	k.wg.Add(1)
	go k.run(k.bg)
	return k, nil
}

// key returns the cached key named kid. An unknown kid fails at once with
// ErrUnknownKey (ErrKeysUnavailable after close) and asks for a background
// refresh, at most once per MinRefreshInterval. No error names a URL, an
// upstream error or a timing.
func (k *keySource) key(kid string) (jwk.Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: the token names no key id (kid)", ErrUnknownKey)
	}
	if key, ok := k.cur.Load().set.LookupKeyID(kid); ok {
		return key, nil
	}
	if k.bg.Err() != nil {
		return nil, fmt.Errorf("%w: key id %q is not among the signing keys and the verifier is closed", ErrKeysUnavailable, clip(kid))
	}
	if k.requestRefresh(kid) {
		k.log.Info("graph signing keys refresh requested for an unknown key id", "kid", clip(kid))
	}
	return nil, fmt.Errorf("%w: key id %q is not among the signing keys", ErrUnknownKey, clip(kid))
}

// requestRefresh hands kid to the refresher and reports true, unless a
// request was accepted less than MinRefreshInterval ago or one already
// waits. It never blocks.
func (k *keySource) requestRefresh(kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if now.Sub(k.lastKick) < k.cfg.MinRefreshInterval {
		return false
	}
	select {
	case k.kick <- kid:
		k.lastKick = now
		k.kicks.Add(1)
		return true
	default:
		return false
	}
}

// run is the refresher: the only goroutine that fetches keys after start,
// so refreshes never overlap.
func (k *keySource) run(ctx context.Context) {
	defer k.wg.Done()
	t := time.NewTicker(k.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.refresh(ctx, reasonSchedule, "")
		case kid := <-k.kick:
			k.refresh(ctx, reasonUnknownKid, kid)
		}
	}
}

// refresh fetches the JWKS once within refreshTimeout and stores its usable
// keys; on any failure, an empty set or one without a usable key included,
// the cached keys stay and the failure is logged. A scheduled refresh first
// re-reads the OpenID configuration and follows a moved jwks_uri.
func (k *keySource) refresh(ctx context.Context, reason, kid string) {
	defer k.finished()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	cur := k.cur.Load()
	jwksURL := cur.url
	if reason == reasonSchedule {
		u, err := discover(ctx, k.cfg.HTTPClient, k.cfg.OpenIDConfigURL)
		switch {
		case err == nil:
			jwksURL = u
		case k.bg.Err() != nil:
			return
		default:
			k.log.Warn("re-reading the OpenID configuration failed; refreshing the current jwks_uri",
				"openid_config", k.cfg.OpenIDConfigURL, "err", err, "took", time.Since(start))
		}
	}
	set, skipped, err := fetchKeys(ctx, k.cfg.HTTPClient, jwksURL)
	took := time.Since(start)
	if k.bg.Err() != nil {
		return
	}
	logSkipped(k.log, jwksURL, skipped)
	switch {
	case errors.Is(err, errNoUsableKeys):
		k.log.Error("graph signing keys refresh returned no usable key; keeping the cached keys",
			"jwks", jwksURL, "reason", reason, "err", err, "took", took)
		return
	case err != nil:
		k.log.Warn("graph signing keys refresh failed; keeping the cached keys",
			"jwks", jwksURL, "reason", reason, "err", err, "took", took)
		return
	}
	k.cur.Store(&keySet{url: jwksURL, set: set})
	if jwksURL != cur.url {
		k.log.Info("graph signing keys moved", "from", cur.url, "to", jwksURL)
	}
	attrs := []any{"jwks", jwksURL, "reason", reason, "keys", set.Len(), "took", took}
	if kid != "" {
		_, found := set.LookupKeyID(kid)
		attrs = append(attrs, "kid", clip(kid), "kid_found", found)
	}
	k.log.Info("graph signing keys refreshed", attrs...)
}

// finished counts a finished refresh and wakes refreshWatch's waiters.
func (k *keySource) finished() {
	k.doneMu.Lock()
	defer k.doneMu.Unlock()
	k.done++
	close(k.doneCh)
	k.doneCh = make(chan struct{})
}

// refreshWatch returns how many background refreshes have finished and a
// channel closed when the next one finishes.
func (k *keySource) refreshWatch() (int64, <-chan struct{}) {
	k.doneMu.Lock()
	defer k.doneMu.Unlock()
	return k.done, k.doneCh
}

// close stops the refresher, ending any fetch in flight, and waits for it.
func (k *keySource) close() {
	k.stop()
	k.wg.Wait()
}

// logSkipped logs each JWKS entry that cannot verify RS256 tokens.
func logSkipped(log *slog.Logger, jwksURL string, skipped []skippedKey) {
	for _, s := range skipped {
		log.Warn("graph signing key skipped", "jwks", jwksURL, "kid", s.kid, "reason", s.reason)
	}
}
