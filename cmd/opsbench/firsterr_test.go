package main

import (
	"errors"
	"net/url"
	"sync"
	"testing"
)

// TestFirstErrKeepsTheFirstOfAnyType: errors of different concrete types
// from many goroutines (which made an atomic.Value panic) leave exactly one
// of them recorded, and the first stays.
func TestFirstErrKeepsTheFirstOfAnyType(t *testing.T) {
	var f firstErr
	if f.get() != nil {
		t.Fatal("an error before any was set")
	}
	first := errors.New("first")
	f.set(first)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if i%2 == 0 {
				f.set(&url.Error{Op: "Post", URL: "http://x", Err: errors.New("refused")})
			} else {
				f.set(errors.New("later"))
			}
		})
	}
	wg.Wait()
	if f.get() != first {
		t.Fatalf("got %v, want the first error", f.get())
	}
}
