package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// aliveSubjectPrefix is where each worker answers liveness pings (see
// doc.go, "Partitions"); a token of its id's hash follows.
const aliveSubjectPrefix = "comms.resolver.alive."

// aliveSubject returns the subject worker id answers liveness pings on: a
// hash, since an id (a hostname) may hold dots or wildcards.
func aliveSubject(id string) string {
	sum := sha256.Sum256([]byte(id))
	return aliveSubjectPrefix + hex.EncodeToString(sum[:8])
}

// pinRenewal is the pull request that renews a pin without taking a
// message: max_bytes 1 fits no message, so the server answers 404 (nothing
// pending), 408 (expired) or 409 (message larger than max_bytes), or 423
// when id is no longer the pin. Any request under the pin restarts the
// server's PinnedTTL timer before anything else is checked.
type pinRenewal struct {
	Batch    int           `json:"batch"`
	MaxBytes int           `json:"max_bytes"`
	NoWait   bool          `json:"no_wait"`
	Expires  time.Duration `json:"expires"`
	Group    string        `json:"group"`
	ID       string        `json:"id"`
}

// pinner renews this worker's pins on the partition consumers and answers
// and sends liveness pings, over core NATS requests.
type pinner struct {
	nc     *nats.Conn
	prefix string // JetStream API prefix, with its trailing dot
	every  time.Duration
}

func newPinner(js jetstream.JetStream, pinnedTTL time.Duration) *pinner {
	o := js.Options()
	prefix := jetstream.DefaultAPIPrefix
	switch {
	case o.Domain != "":
		prefix = "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		prefix = strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return &pinner{nc: js.Conn(), prefix: prefix, every: pinnedTTL / 4}
}

// renew sends one renewal of pin on partition p's consumer and reports
// whether the server still holds it (held) and whether it answered at all.
func (r *pinner) renew(ctx context.Context, p int, pin string) (held, answered bool) {
	req, err := json.Marshal(pinRenewal{Batch: 1, MaxBytes: 1, NoWait: true, Expires: r.every / 2, Group: PriorityGroup, ID: pin})
	if err != nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(ctx, r.every)
	defer cancel()
	subj := r.prefix + "CONSUMER.MSG.NEXT." + events.StreamIn + "." + ConsumerName(p)
	resp, err := r.nc.RequestWithContext(ctx, subj, req)
	if err != nil {
		return false, false
	}
	switch resp.Header.Get("Status") {
	case "404", "408", "409":
		return true, true
	case "423":
		return false, true
	}
	return false, false
}

// keep renews, every PinnedTTL/4 until ctx ends, the pin of each partition
// pins reports held (partition to pin id), so that the server keeps a live
// worker pinned however busy or idle it is; report receives each answer.
// A round does not wait for the last one's answers (the server restarts
// the TTL on receipt): a partition whose renewal is still unanswered is
// skipped.
func (r *pinner) keep(ctx context.Context, pins func() map[int]string, report func(p int, pin string, held bool)) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight = map[int]bool{}
	)
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for p, pin := range pins() {
			mu.Lock()
			busy := inFlight[p]
			inFlight[p] = true
			mu.Unlock()
			if busy {
				continue
			}
			wg.Go(func() {
				if held, answered := r.renew(ctx, p, pin); answered {
					report(p, pin, held)
				}
				mu.Lock()
				delete(inFlight, p)
				mu.Unlock()
			})
		}
	}
}

// answer makes this worker answer liveness pings as id until the returned
// subscription is unsubscribed (or the connection closes: a killed worker
// stops answering at once).
func (r *pinner) answer(id string) (*nats.Subscription, error) {
	return r.nc.Subscribe(aliveSubject(id), func(m *nats.Msg) { _ = m.Respond(nil) })
}

// alive reports whether worker id answers a liveness ping within timeout.
// A killed worker's subscription is gone: the server answers "no
// responders" at once.
func (r *pinner) alive(ctx context.Context, id string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := r.nc.RequestWithContext(ctx, aliveSubject(id), nil)
	return err == nil || !(errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
}
