package graphauth

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestNewStaticTokens(t *testing.T) {
	cases := []struct {
		name   string
		tokens []string
		want   error
	}{
		{"one", []string{"0123456789abcdef"}, nil},
		{"several", []string{"0123456789abcdef", strings.Repeat("z", 64)}, nil},
		{"none", nil, ErrConfig},
		{"empty list", []string{}, ErrConfig},
		{"empty token", []string{"0123456789abcdef", ""}, ErrConfig},
		{"15 characters", []string{"0123456789abcde"}, ErrConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStaticTokens(tc.tokens)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				for _, tok := range tc.tokens {
					if tok != "" && strings.Contains(err.Error(), tok) {
						t.Fatalf("the error echoes a token: %v", err)
					}
				}
			} else if s == nil {
				t.Fatal("nil StaticTokens")
			}
		})
	}
}

func TestStaticTokensVerify(t *testing.T) {
	const (
		a = "resp-token-aaaaaaaaaaaaaaaa"
		b = "resp-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	s, err := NewStaticTokens([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"first token", "Bearer " + a, nil},
		{"second token", "Bearer " + b, nil},
		{"scheme in lower case", "bearer " + a, nil},
		{"one character off", "Bearer " + a[:len(a)-1] + "b", ErrBadToken},
		{"prefix of a token", "Bearer " + a[:16], ErrBadToken},
		{"token plus a suffix", "Bearer " + a + "x", ErrBadToken},
		{"unknown token", "Bearer some-other-token-0000000", ErrBadToken},
		{"case differs", "Bearer " + strings.ToUpper(a), ErrBadToken},
		{"missing header", "", ErrMissingToken},
		{"Bearer without a token", "Bearer ", ErrMissingToken},
		{"Basic scheme", "Basic " + a, ErrBadToken},
		{"no scheme", a, ErrBadToken},
		{"two tokens", "Bearer " + a + " " + b, ErrBadToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Verify(tc.header)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				for _, f := range strings.Fields(tc.header) {
					if len(f) >= 8 && strings.Contains(err.Error(), f) {
						t.Fatalf("the error echoes the token: %v", err)
					}
				}
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				h, want := "Bearer "+a, error(nil)
				if i%2 == 1 {
					h, want = "Bearer nope-nope-nope-nope", ErrBadToken
				}
				if err := s.Verify(h); !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Errorf("err = %v, want %v", err, want)
				}
			})
		}
		wg.Wait()
	})
}
