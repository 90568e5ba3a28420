package resolver

import "testing"

// TestStateStoreEviction: a full cache evicts a key that keep allows, never
// one it keeps (work queued, or a batch not committed).
func TestStateStoreEviction(t *testing.T) {
	kept := map[string]bool{"busy": true, "dirty": true}
	s := newStateStore(nil, nil, 0, 3, func(key string) bool { return kept[key] })
	for _, key := range []string{"busy", "dirty", "idle"} {
		s.put(key, &cachedState{st: &KeyState{Key: key}})
	}
	s.put("new", &cachedState{st: &KeyState{Key: "new"}})
	for key, want := range map[string]bool{"busy": true, "dirty": true, "idle": false, "new": true} {
		if got := s.cached(key) != nil; got != want {
			t.Errorf("%s cached: %v, want %v", key, got, want)
		}
	}
	s.forget("busy")
	if s.cached("busy") != nil {
		t.Error("forget left the state")
	}
	s.forgetAll()
	if s.cached("dirty") != nil || s.cached("new") != nil {
		t.Error("forgetAll left states")
	}
}
