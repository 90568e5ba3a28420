package graphsim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Simulator is a local stand-in for Graph's calls API and its callbacks.
// Serve its Handler; Close it to stop its callbacks. Safe for concurrent use.
type Simulator struct {
	cfg  Config
	log  *slog.Logger
	keys *keyring

	mu    sync.Mutex
	rng   *rand.Rand // call ids and call seeds, in creation order
	calls map[string]*call
	order []string // call ids in creation order

	ctx    context.Context // ends at Close: callbacks stop
	cancel context.CancelFunc
	// flowMu orders spawn against Close: no flow starts once closed is set.
	flowMu sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New returns a Simulator for cfg with a fresh signing key. Errors wrap
// ErrConfig, or say why no key could be made.
func New(cfg Config) (*Simulator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring()
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:   cfg,
		log:   cfg.Log.With("component", "graphsim"),
		keys:  keys,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		calls: map[string]*call{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops every callback flow (a delivery in flight is cancelled) and
// waits for them to end, or for ctx to end first (then it returns ctx's
// error). A race-held action response is released.
func (s *Simulator) Close(ctx context.Context) error {
	s.flowMu.Lock()
	s.closed = true
	s.flowMu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("graphsim: close: %w", ctx.Err())
	}
}

// Handler serves the Graph routes, the OpenID configuration and keys, and
// the control API.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	s.graphRoutes(mux)
	s.controlRoutes(mux)
	return mux
}

// call is one simulated call. Its fields are guarded by mu.
type call struct {
	mu          sync.Mutex
	id          string
	chainID     string
	callbackURI string
	faults      Faults
	rng         *rand.Rand
	state       string
	resource    map[string]any // the call object as created
	ops         []*operation
	deliveries  []Delivery
	terminated  bool
}

// operation is one commsOperation of a call, guarded by its call's mu.
type operation struct {
	id, clientContext, odataType, action string
	spec                                 actionSpec
	statuses                             []string
	final                                string
	resultInfo                           *ResultInfo
	faults                               []string
	cancelled                            bool
	respondedAt                          time.Time
	finalDelivered                       bool
	// settled is closed when the final status's callback delivery ended
	// (delivered or given up), or the flow ended without one.
	settled chan struct{}
}

// newCall registers a call with a fresh id and its own seeded generator.
func (s *Simulator) newCall(callbackURI string, faults Faults) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &call{
		id:          newUUID(s.rng),
		chainID:     newUUID(s.rng),
		callbackURI: callbackURI,
		faults:      faults,
		rng:         rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64())),
		state:       "establishing",
	}
	s.calls[c.id] = c
	s.order = append(s.order, c.id)
	return c
}

// lookup returns the call with id (compared normalised), or ErrUnknownCall.
func (s *Simulator) lookup(id string) (*call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.calls[normalizeID(id)]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownCall, id)
}

// Truth returns the ground truth of the call with id, or ErrUnknownCall.
func (s *Simulator) Truth(id string) (CallTruth, error) {
	c, err := s.lookup(id)
	if err != nil {
		return CallTruth{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := CallTruth{CallID: c.id, State: c.state, CallbackURI: c.callbackURI, Faults: c.faults.String(),
		Operations: []OperationTruth{}, Deliveries: append([]Delivery{}, c.deliveries...)}
	for _, op := range c.ops {
		var ri *ResultInfo
		if op.resultInfo != nil {
			r := *op.resultInfo
			ri = &r
		}
		t.Operations = append(t.Operations, OperationTruth{
			ID: op.id, ClientContext: op.clientContext, ODataType: op.odataType, Action: op.action,
			Statuses: append([]string{}, op.statuses...), Final: op.final, ResultInfo: ri,
			Faults: append([]string{}, op.faults...), RespondedAt: op.respondedAt, FinalDelivered: op.finalDelivered,
		})
	}
	return t, nil
}

// CallIDs returns the ids of every call, in creation order.
func (s *Simulator) CallIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// RotateKey publishes a new signing key now and signs with it from after on
// (at once when after is 0). It returns the new key's kid.
func (s *Simulator) RotateKey(after time.Duration) (string, error) {
	kid, err := s.keys.rotate(s.cfg.Now().Add(after))
	if err != nil {
		return "", err
	}
	s.log.Info("signing key rotated", "kid", kid, "signing_after", after)
	return kid, nil
}

// spawn runs f in its own goroutine as a callback flow that Close cancels
// and waits for; after Close it runs nothing.
func (s *Simulator) spawn(f func(ctx context.Context)) {
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
