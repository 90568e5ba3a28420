package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

func resolvedStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	js, _ := jetStream(t)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: events.StreamResolved,
		Subjects: []string{events.SubjectResolvedPrefix + ">"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return js
}

// emit publishes a resolved event as the resolver does.
func emit(t *testing.T, js jetstream.JetStream, cc string, status events.Status) string {
	t.Helper()
	id := fmt.Sprintf("%s/%s", events.Key(cc), status)
	e := event.New()
	e.SetID(id)
	e.SetType(events.ResolvedType(status))
	e.SetSource(events.ResolvedSource("call-1"))
	e.SetSubject(cc)
	e.SetTime(time.Now())
	b, _ := json.Marshal(events.ResolvedOperation{ClientContext: cc, CallID: "call-1", OperationID: "op", Status: status, Sources: []events.Source{}})
	_ = e.SetData(events.ContentTypeJSON, b)
	m, err := events.EncodeMsg(events.ResolvedSubject(events.Key(cc), status), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
	return id
}

// collect runs s until n events were handled (or 10s) and returns their ids.
func collect(t *testing.T, s *events.Subscriber, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var ids []string
	go func() {
		for ctx.Err() == nil {
			mu.Lock()
			done := len(ids) >= n
			mu.Unlock()
			if done {
				time.Sleep(200 * time.Millisecond) // would anything more come?
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	err := s.Run(ctx, func(_ context.Context, r *events.Resolved) error {
		mu.Lock()
		ids = append(ids, r.Event.ID())
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSubscriberFiltersAndReplay(t *testing.T) {
	js := resolvedStream(t)
	weird := "a.b *> c"
	all := []string{
		emit(t, js, "cc-1", events.StatusRunning), emit(t, js, "cc-1", events.StatusCompleted),
		emit(t, js, "cc-2", events.StatusFailed), emit(t, js, weird, events.StatusCompleted),
		emit(t, js, "a", events.StatusCompleted), // what a widened filter from "a.b *> c" could catch
	}
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	late := emit(t, js, "cc-3", events.StatusStalled)

	cases := []struct {
		name string
		opts []events.SubscriberOption
		want []string
	}{
		{"everything from the start", []events.SubscriberOption{events.DeliverAll()}, append(slices.Clone(all), late)},
		{"terminal statuses", []events.SubscriberOption{events.DeliverAll(), events.FilterStatus(events.StatusCompleted, events.StatusFailed)}, []string{all[1], all[2], all[3], all[4]}},
		{"one clientContext", []events.SubscriberOption{events.DeliverAll(), events.FilterClientContext("cc-1")}, all[:2]},
		{"a clientContext with dots, wildcards and spaces", []events.SubscriberOption{events.DeliverAll(), events.FilterClientContext(weird)}, []string{all[3]}},
		{"from a sequence", []events.SubscriberOption{events.StartAtSequence(3)}, []string{all[2], all[3], all[4], late}},
		{"from a time", []events.SubscriberOption{events.StartAtTime(mid)}, []string{late}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := events.NewSubscriber(js, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := collect(t, s, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	if _, err := events.NewSubscriber(js, events.StartAtSequence(0)); !errors.Is(err, events.ErrSubscriberConfig) {
		t.Fatalf("invalid option accepted: %v", err)
	}
}

// TestDurableSharedAndRedelivered: two replicas of one subscriber service
// share a durable consumer, each event handled once across both; an event
// whose handler fails comes again.
func TestDurableSharedAndRedelivered(t *testing.T) {
	js := resolvedStream(t)
	const n = 40
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, emit(t, js, fmt.Sprintf("cc-%d", i), events.StatusCompleted))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	handled := map[string]int{}
	failedOnce := map[string]bool{}
	handler := func(_ context.Context, r *events.Resolved) error {
		mu.Lock()
		defer mu.Unlock()
		if r.Event.ID() == want[7] && !failedOnce[r.Event.ID()] {
			failedOnce[r.Event.ID()] = true
			return errors.New("transient")
		}
		handled[r.Event.ID()]++
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		s, err := events.NewSubscriber(js, events.Durable("billing"), events.DeliverAll(), events.Concurrency(4))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx, handler) }()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		done := len(handled) == n
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, id := range want {
		if handled[id] != 1 {
			t.Errorf("event %s handled %d times", id, handled[id])
		}
	}
	if !failedOnce[want[7]] {
		t.Error("the failing handler never ran")
	}
}
