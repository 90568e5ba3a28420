package graphauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxOpenIDConfigLen bounds the OpenID configuration document read.
const maxOpenIDConfigLen = 1 << 20

// discover reads the OpenID configuration at configURL and returns its
// jwks_uri. Its errors wrap ErrKeysUnavailable and name the URL.
func discover(ctx context.Context, hc *http.Client, configURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, configURL, nil)
	if err != nil {
		return "", fmt.Errorf("%w: OpenID configuration %s: %v", ErrKeysUnavailable, configURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: fetching the OpenID configuration: %v", ErrKeysUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: OpenID configuration %s answered %s", ErrKeysUnavailable, configURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOpenIDConfigLen))
	if err != nil {
		return "", fmt.Errorf("%w: reading the OpenID configuration %s: %v", ErrKeysUnavailable, configURL, err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: OpenID configuration %s is not JSON: %v", ErrKeysUnavailable, configURL, err)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: OpenID configuration %s has no jwks_uri", ErrKeysUnavailable, configURL)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("%w: OpenID configuration %s: jwks_uri %v", ErrKeysUnavailable, configURL, err)
	}
	return doc.JWKSURI, nil
}
