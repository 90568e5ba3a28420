package graphauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Graph's published values and this package's defaults.
const (
	// DefaultOpenIDConfigURL serves the OpenID configuration whose jwks_uri
	// holds the keys Graph signs callbacks with.
	DefaultOpenIDConfigURL = "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration"
	// DefaultLeeway tolerates clock skew on exp and nbf.
	DefaultLeeway = time.Minute
	// DefaultRefreshInterval is how often the keys are re-read, as in
	// Microsoft's sample validator.
	DefaultRefreshInterval = 2 * time.Hour
	// DefaultMinRefreshInterval bounds refreshes triggered by unknown kids.
	DefaultMinRefreshInterval = time.Minute
	// DefaultHTTPTimeout bounds each fetch of the default HTTP client.
	DefaultHTTPTimeout = 10 * time.Second
)

// DefaultIssuers returns the issuers Microsoft's sample validator accepts.
func DefaultIssuers() []string {
	return []string{"https://api.botframework.com", "https://graph.microsoft.com"}
}

// Config configures a Verifier. Zero values take the documented defaults.
type Config struct {
	// Audience is the bot's app id, which aud must name. Required.
	Audience string
	// Issuers are the accepted iss values (default DefaultIssuers()).
	Issuers []string
	// OpenIDConfigURL serves the OpenID configuration whose jwks_uri holds
	// the signing keys (default DefaultOpenIDConfigURL).
	OpenIDConfigURL string
	// Tenants, when not empty, are the accepted tid values; when empty tid is
	// not checked.
	Tenants []string
	// Leeway tolerates clock skew on exp and nbf (default DefaultLeeway).
	Leeway time.Duration
	// RefreshInterval is how often the OpenID configuration and the JWKS are
	// re-read in the background (default DefaultRefreshInterval).
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two JWKS refreshes
	// triggered by unknown kids (default DefaultMinRefreshInterval).
	MinRefreshInterval time.Duration
	// HTTPClient fetches the configuration and the keys (default: a client
	// with a DefaultHTTPTimeout timeout).
	HTTPClient *http.Client
}

// Validate reports, wrapping ErrConfig, an empty Audience, a negative
// duration, an empty issuer or tenant, or an OpenIDConfigURL that is not an
// absolute http(s) URL.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Audience) == "" {
		return fmt.Errorf("%w: the audience (the bot's app id) is required", ErrConfig)
	}
	for name, d := range map[string]time.Duration{
		"leeway": c.Leeway, "refresh interval": c.RefreshInterval, "minimum refresh interval": c.MinRefreshInterval,
	} {
		if d < 0 {
			return fmt.Errorf("%w: the %s is negative (%s)", ErrConfig, name, d)
		}
	}
	for _, iss := range c.Issuers {
		if strings.TrimSpace(iss) == "" {
			return fmt.Errorf("%w: an accepted issuer is empty", ErrConfig)
		}
	}
	for _, tid := range c.Tenants {
		if strings.TrimSpace(tid) == "" {
			return fmt.Errorf("%w: an accepted tenant is empty", ErrConfig)
		}
	}
	if c.OpenIDConfigURL != "" {
		if err := checkURL(c.OpenIDConfigURL); err != nil {
			return fmt.Errorf("%w: OpenID configuration URL: %v", ErrConfig, err)
		}
	}
	return nil
}

// withDefaults returns c with every zero field set to its default. Slices are
// copied so the caller may reuse its own.
func (c Config) withDefaults() Config {
	if len(c.Issuers) == 0 {
		c.Issuers = DefaultIssuers()
	} else {
		c.Issuers = append([]string(nil), c.Issuers...)
	}
	c.Tenants = append([]string(nil), c.Tenants...)
	if c.OpenIDConfigURL == "" {
		c.OpenIDConfigURL = DefaultOpenIDConfigURL
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	return c
}

// checkURL accepts absolute http and https URLs.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q does not parse", s)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
