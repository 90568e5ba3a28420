package graphauth

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// MinStaticTokenLen is the shortest static bearer token accepted.
const MinStaticTokenLen = 16

// StaticTokens checks the static bearer tokens bots present on
// /v1/responses (the bot is not Graph, so there is no JWT). Safe for
// concurrent use.
type StaticTokens struct {
	tokens [][]byte
}

// NewStaticTokens returns a checker accepting any of tokens. It returns an
// error wrapping ErrConfig when tokens is empty or a token is shorter than
// MinStaticTokenLen (the message names the token's position, not the token).
func NewStaticTokens(tokens []string) (*StaticTokens, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no static bearer tokens configured", ErrConfig)
	}
	s := &StaticTokens{tokens: make([][]byte, 0, len(tokens))}
	for i, t := range tokens {
		switch {
		case t == "":
			return nil, fmt.Errorf("%w: static token %d is empty", ErrConfig, i+1)
		case len(t) < MinStaticTokenLen:
			return nil, fmt.Errorf("%w: static token %d is shorter than %d characters", ErrConfig, i+1, MinStaticTokenLen)
		}
		s.tokens = append(s.tokens, []byte(t))
	}
	return s, nil
}

// Verify checks an Authorization header value "Bearer <token>". It compares
// the token with every configured token in constant time (no early exit on
// the first match) and returns nil, an error wrapping ErrMissingToken (no
// header or an empty token), or one wrapping ErrBadToken (no match, or not a
// Bearer header; the latter also wraps ErrMalformedToken).
func (s *StaticTokens) Verify(authorizationHeader string) error {
	tok, err := bearer(authorizationHeader)
	switch {
	case errors.Is(err, ErrMissingToken):
		return err
	case err != nil:
		return fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	presented := []byte(tok)
	match := 0
	for _, t := range s.tokens {
		match |= subtle.ConstantTimeCompare(presented, t)
	}
	if match != 1 {
		return fmt.Errorf("%w: it matches no configured token", ErrBadToken)
	}
	return nil
}
