package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// storedOrder returns seq's evidence in the order COMMS_IN stores it, every
// stored copy included, and the stream sequences of each piece of evidence
// (by its index in seq). The contract follows the stored order: a publish
// retried across a leader change may store evidence in another order than it
// was posted in, or twice. It logs where the two orders differ.
func storedOrder(t *testing.T, js jetstream.JetStream, seq []traffic.Evidence) ([]traffic.Evidence, map[int][]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	idOf := map[string]int{}
	for i, e := range seq {
		for _, in := range inboundOf(t, e) {
			idOf[in.ID()] = i
		}
	}
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	// Read from the leader, which holds everything acknowledged: a replica
	// may be behind after the shutdown.
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored []traffic.Evidence
	seqs := map[int][]uint64{}
	last, inversions := -1, 0
	for sq := info.State.FirstSeq; sq <= info.State.LastSeq && sq > 0; sq++ {
		m, err := jsutil.LeaderGet(ctx, js, events.StreamIn, jsutil.LeaderGetRequest{Seq: sq})
		if err != nil {
			t.Fatalf("COMMS_IN stream_seq %d: %v", sq, err)
		}
		e, err := events.DecodeMsg(m.Header, m.Data)
		if err != nil {
			continue
		}
		i, ok := idOf[e.ID()]
		if !ok {
			continue
		}
		if len(seqs[i]) > 0 {
			t.Logf("evidence %d stored again at stream_seq %d (first at %v)", i, sq, seqs[i])
		} else if i < last {
			inversions++
			t.Logf("evidence %d stored at stream_seq %d, after evidence %d posted later", i, sq, last)
		}
		seqs[i] = append(seqs[i], sq)
		last = max(last, i)
		stored = append(stored, seq[i])
	}
	t.Logf("COMMS_IN holds %d of %d pieces of evidence posted (%d stored copies), %d out of posted order", len(seqs), len(seq), len(stored), inversions)
	return stored, seqs
}

// explainMismatch logs, for each operation whose events differ from what
// want (the model of the stored order) says, its evidence as posted and as
// stored, and the events emitted.
func explainMismatch(t *testing.T, ops []*traffic.Operation, seq []traffic.Evidence, seqs map[int][]uint64, want map[*traffic.Operation][]traffic.Expected, evs []resolvedEvent) {
	t.Helper()
	idx := traffic.NewIndex(ops)
	got := map[*traffic.Operation][]traffic.Expected{}
	emitted := map[*traffic.Operation][]string{}
	for _, e := range evs {
		if o := idx.Find(e.Data); o != nil {
			got[o] = append(got[o], traffic.Expected{Status: e.Data.Status, RaceDetected: e.Data.RaceDetected, OperationID: e.Data.OperationID})
			emitted[o] = append(emitted[o], fmt.Sprintf("#%d %s race=%v", e.Seq, e.Data.Status, e.Data.RaceDetected))
		}
	}
	for _, o := range ops {
		if slices.Equal(got[o], want[o]) {
			continue
		}
		var b strings.Builder
		for i, e := range seq {
			if e.Op == o {
				fmt.Fprintf(&b, " [posted %d: response=%v %q, stream_seq %v]", i, e.Response, e.Status, seqs[i])
			}
		}
		t.Logf("op %s (cc %s):%s; emitted %v", o.ID, o.CC, b.String(), emitted[o])
	}
}
