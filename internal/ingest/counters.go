package ingest

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/inbound"
)

// cachedCounter holds a CounterVec child once fetched, so that the hot path
// does not hash its label values on every increment. Children are still made
// on first use only: /metrics shows the same series as without the cache.
type cachedCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

// get returns the cached child, fetching it with fetch on first use (two
// racing first uses fetch the same child).
func (c *cachedCounter) get(fetch func() prometheus.Counter) prometheus.Counter {
	if p := c.p.Load(); p != nil {
		return *p
	}
	ctr := fetch()
	c.p.Store(&ctr)
	return ctr
}

// eventTypes are the types the ingest stores, each with a cached counter.
var eventTypes = [...]string{
	inbound.TypeOperationNotification, inbound.TypeCallNotification, inbound.TypeParticipantNotification,
	inbound.TypeOtherNotification, inbound.TypeActionResponse,
}

// eventCounters counts stored events by type.
type eventCounters struct {
	vec    *prometheus.CounterVec
	byType [len(eventTypes)]cachedCounter
}

// inc counts one stored event of type typ.
func (e *eventCounters) inc(typ string) {
	for i, t := range eventTypes {
		if t == typ {
			e.byType[i].get(func() prometheus.Counter { return e.vec.WithLabelValues(typ) }).Inc()
			return
		}
	}
	e.vec.WithLabelValues(typ).Inc()
}

// routeCounters counts one route's requests by status code.
type routeCounters struct {
	vec    *prometheus.CounterVec
	route  string
	byCode [500]cachedCounter // codes 100 to 599
}

// inc counts one request answered with code.
func (r *routeCounters) inc(code int) {
	if code < 100 || code > 599 {
		r.vec.WithLabelValues(r.route, strconv.Itoa(code)).Inc()
		return
	}
	r.byCode[code-100].get(func() prometheus.Counter { return r.vec.WithLabelValues(r.route, strconv.Itoa(code)) }).Inc()
}
