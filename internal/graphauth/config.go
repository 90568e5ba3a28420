package graphauth

import (
	"fmt"
	"net/http"
	"time"
)

// Graph's published values.
const (
	DefaultOpenIDConfigURL = "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration"
)

// DefaultIssuers are the issuers Microsoft's sample validator accepts.
var DefaultIssuers = []string{"https://api.botframework.com", "https://graph.microsoft.com"}

// Config configures a Verifier. Zero values take the documented defaults.
type Config struct {
	// Audience is the bot's app id: the required aud. Required.
	Audience string
	// Issuers are the accepted iss values (default DefaultIssuers).
	Issuers []string
	// OpenIDConfigURL serves the OpenID configuration whose jwks_uri holds
	// the signing keys (default DefaultOpenIDConfigURL).
	OpenIDConfigURL string
	// Tenants, when not empty, are the accepted tid values.
	Tenants []string
	// Leeway tolerates clock skew on exp and nbf (default 1m).
	Leeway time.Duration
	// RefreshInterval is how often the keys are refreshed (default 2h).
	RefreshInterval time.Duration
	// MinRefreshInterval bounds refreshes triggered by unknown key ids
	// (default 1m).
	MinRefreshInterval time.Duration
	// HTTPClient fetches the configuration and keys (default: 10s timeout).
	HTTPClient *http.Client
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
}

// Validate returns ErrConfig when Audience is empty or a duration is negative.
func (c Config) Validate() error {
	if c.Audience == "" {
		return fmt.Errorf("%w: the audience (the bot's app id, INGEST_JWT_AUDIENCE) is required", ErrConfig)
	}
	if c.Leeway < 0 || c.RefreshInterval < 0 || c.MinRefreshInterval < 0 {
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	}
	return nil
}

func (c *Config) setDefaults() {
	if len(c.Issuers) == 0 {
		c.Issuers = DefaultIssuers
	}
	if c.OpenIDConfigURL == "" {
		c.OpenIDConfigURL = DefaultOpenIDConfigURL
	}
	if c.Leeway == 0 {
		c.Leeway = time.Minute
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 2 * time.Hour
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
