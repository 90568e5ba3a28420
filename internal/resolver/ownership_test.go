package resolver

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestOwnershipPins: a partition's first delivery, and the first under a new
// pin, start an ownership (a catch-up); later ones under the same pin do
// not; after lost (a yield, or a catch-up left unfinished) the next one does
// again, whatever its pin.
func TestOwnershipPins(t *testing.T) {
	o := newOwnership(2, Config{WorkerID: "w", PinnedTTL: time.Minute}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	steps := []struct {
		name string
		p    int
		pin  string
		lost bool // call lost(p) before the delivery
		want bool
	}{
		{"first delivery", 0, "a", false, true},
		{"same pin", 0, "a", false, false},
		{"other partition, first delivery", 1, "a", false, true},
		{"new pin", 0, "b", false, true},
		{"same pin again", 0, "b", false, false},
		{"after lost, same pin", 0, "b", true, true},
		{"then settled", 0, "b", false, false},
	}
	for _, s := range steps {
		if s.lost {
			o.lost(s.p)
		}
		if got := o.delivered(s.p, s.pin); got != s.want {
			t.Fatalf("%s: delivered(%d, %q) = %v, want %v", s.name, s.p, s.pin, got, s.want)
		}
	}
	for p := range 2 {
		if !o.active(p) {
			t.Errorf("partition %d not active right after a delivery", p)
		}
	}
}

// TestPartitionOwner: every partition has exactly one owner among the
// members, the same whatever the members' order, and a member leaving moves
// only its own partitions.
func TestPartitionOwner(t *testing.T) {
	members := []string{"w1", "w2", "w3"}
	const n = 64
	before := make([]string, n)
	counts := map[string]int{}
	for p := range n {
		before[p] = PartitionOwner(p, members)
		if got := PartitionOwner(p, []string{"w3", "w1", "w2"}); got != before[p] {
			t.Fatalf("partition %d: owner %s depends on the members' order (%s)", p, got, before[p])
		}
		counts[before[p]]++
	}
	for _, m := range members {
		if counts[m] == 0 {
			t.Errorf("member %s owns nothing of %d partitions: %v", m, n, counts)
		}
	}
	for p := range n {
		after := PartitionOwner(p, slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == "w2" }))
		if before[p] != "w2" && after != before[p] {
			t.Errorf("partition %d moved from %s to %s when w2 left", p, before[p], after)
		}
	}
}
