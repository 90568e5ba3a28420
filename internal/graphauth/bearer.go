package graphauth

import (
	"fmt"
	"strings"
)

// maxTokenLen bounds the bearer tokens parsed; Graph's are a few KiB.
const maxTokenLen = 16 << 10

// bearer returns the token of an Authorization header value
// "Bearer <token>", the scheme in any casing. Its errors wrap ErrMissingToken
// or ErrMalformedToken and never quote the header.
func bearer(authorization string) (string, error) {
	f := strings.Fields(authorization)
	switch {
	case len(f) == 0:
		return "", fmt.Errorf("%w: no Authorization header", ErrMissingToken)
	case !strings.EqualFold(f[0], "Bearer"):
		return "", fmt.Errorf("%w: the Authorization scheme is not Bearer", ErrMalformedToken)
	case len(f) == 1:
		return "", fmt.Errorf("%w: the Bearer token is empty", ErrMissingToken)
	case len(f) > 2:
		return "", fmt.Errorf("%w: the Authorization header holds more than one token", ErrMalformedToken)
	case len(f[1]) > maxTokenLen:
		return "", fmt.Errorf("%w: the token is longer than %d bytes", ErrMalformedToken, maxTokenLen)
	}
	return f[1], nil
}
