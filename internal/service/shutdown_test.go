package service

import (
	"context"
	"testing"
	"time"
)

// TestShutdownDeadline: the clock starts at the first Context call, not at
// creation; every step gets the same deadline, so later steps get only what
// earlier ones left; Cancel ends it.
func TestShutdownDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cases := []struct {
		name string
		run  func(t *testing.T, d *ShutdownDeadline)
	}{
		{"clock starts at the first Context call", func(t *testing.T, d *ShutdownDeadline) {
			time.Sleep(timeout) // created long before SIGTERM
			before := time.Now()
			dl, ok := d.Context().Deadline()
			after := time.Now()
			if !ok {
				t.Fatal("no deadline")
			}
			if dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout)) {
				t.Fatalf("deadline %v after the first call, want %v", dl.Sub(before), timeout)
			}
		}},
		{"every step shares it", func(t *testing.T, d *ShutdownDeadline) {
			first := d.Context()
			time.Sleep(timeout / 3) // a first step spends part of it
			second := d.Context()
			if second != first {
				t.Fatal("a later step got another context")
			}
			a, _ := first.Deadline()
			b, _ := second.Deadline()
			if !a.Equal(b) {
				t.Fatalf("deadlines %v and %v", a, b)
			}
		}},
		{"a step after the deadline has no time left", func(t *testing.T, d *ShutdownDeadline) {
			<-d.Context().Done()
			ctx := d.Context()
			if ctx.Err() != context.DeadlineExceeded {
				t.Fatalf("err %v, want the deadline exceeded", ctx.Err())
			}
		}},
		{"Cancel ends it", func(t *testing.T, d *ShutdownDeadline) {
			ctx := d.Context()
			d.Cancel()
			if ctx.Err() != context.Canceled {
				t.Fatalf("err %v after Cancel", ctx.Err())
			}
		}},
		{"Cancel without a shutdown", func(t *testing.T, d *ShutdownDeadline) {
			d.Cancel()
			if d.Context().Err() == nil {
				t.Fatal("not cancelled")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewShutdownDeadline(timeout)
			defer d.Cancel()
			tc.run(t, d)
		})
	}
}
