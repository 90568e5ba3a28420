package graphauth

import (
	"crypto/subtle"
	"fmt"
)

// MinStaticTokenLen is the shortest static bearer token accepted.
const MinStaticTokenLen = 16

// StaticTokens accepts the bearer tokens configured for bots on
// /v1/responses. Safe for concurrent use.
type StaticTokens struct {
	tokens [][]byte
}

// NewStaticTokens returns a checker for tokens; each must be at least
// MinStaticTokenLen long. It returns ErrConfig otherwise or when none is given.
func NewStaticTokens(tokens []string) (*StaticTokens, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no bearer tokens for /v1/responses (INGEST_RESPONSE_TOKENS)", ErrConfig)
	}
	s := &StaticTokens{}
	for i, t := range tokens {
		if len(t) < MinStaticTokenLen {
			return nil, fmt.Errorf("%w: response token %d is shorter than %d characters", ErrConfig, i+1, MinStaticTokenLen)
		}
		s.tokens = append(s.tokens, []byte(t))
	}
	return s, nil
}

// Verify checks an Authorization header value in constant time against every
// configured token and returns nil, ErrMissingToken, ErrMalformedToken or
// ErrBadToken.
func (s *StaticTokens) Verify(authorization string) error {
	tok, err := bearer(authorization)
	if err != nil {
		return err
	}
	match := 0
	for _, t := range s.tokens {
		match |= subtle.ConstantTimeCompare([]byte(tok), t)
	}
	if match != 1 {
		return ErrBadToken
	}
	return nil
}
