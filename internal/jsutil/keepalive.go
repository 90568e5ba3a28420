package jsutil

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeepAlive tells the server that the messages msgs returns are still being
// handled (InProgress, which restarts their AckWait): first after the delay
// first (0: at once), then every every, until the returned stop is called.
// msgs is called on each round, so it may return a changing set. Once stop
// returns, no round is running and none starts.
func KeepAlive(first, every time.Duration, msgs func() []jetstream.Msg) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(first, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		for _, m := range msgs() {
			_ = m.InProgress()
		}
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
