package main

import "sync/atomic"

// firstErr keeps the first error that any of many goroutines reports.
// (An atomic.Value would panic on a second error of another concrete type.)
type firstErr struct{ p atomic.Pointer[error] }

// set records err unless an error is already recorded.
func (f *firstErr) set(err error) { f.p.CompareAndSwap(nil, &err) }

// get returns the recorded error, nil when none was.
func (f *firstErr) get() error {
	if e := f.p.Load(); e != nil {
		return *e
	}
	return nil
}
