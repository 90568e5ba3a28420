package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/eventstest"
	"github.com/commsops/commsops/internal/opsapi"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/pkg/events"
)

// apiResult is what the operations API phase measured.
type apiResult struct {
	polls, streams int
	// bytesPerConn: heap and stacks per open long-poll or stream, server
	// and client side together (both run in this process).
	bytesPerConn float64
	consumers    int
	answered     int // long-polls answered done
	delivered    int // streams that got their event
}

// benchAPI opens o.LongPolls blocking queries and o.Streams event streams on
// one operations API handler (as the ingest serves it), measures the memory
// they hold, then completes each one's operation and checks every query
// answered done and every stream delivered the event.
func benchAPI(ctx context.Context, b *bench, run int) (apiResult, error) {
	res := apiResult{polls: b.o.LongPolls, streams: b.o.Streams}
	if err := b.reset(ctx); err != nil {
		return res, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return res, err
	}
	nc, js, err := b.connect("opsbench-api")
	if err != nil {
		return res, err
	}
	defer nc.Close()
	ops, err := events.NewOperations(js)
	if err != nil {
		return res, err
	}
	defer ops.Close()
	h, err := opsapi.NewHandler(opsapi.Options{Ops: ops, Responses: http.NotFoundHandler(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := service.NewHTTPServer(ln.Addr().String(), h, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/v1/operations/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: res.polls + res.streams, MaxConnsPerHost: 0}}

	heap0, stack0 := liveBytes()
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	prefix := "api-" + strconv.Itoa(run) + "-"
	var answered, delivered, opened atomic.Int64
	var wg sync.WaitGroup
	for i := range res.polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(actx, http.MethodGet, base+prefix+"poll-"+strconv.Itoa(i)+"?wait=60s", nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var a struct {
				Done bool `json:"done"`
			}
			if json.NewDecoder(resp.Body).Decode(&a) == nil && a.Done {
				answered.Add(1)
			}
		}()
	}
	for i := range res.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(actx, http.MethodGet, base+prefix+"stream-"+strconv.Itoa(i)+"/events", nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			opened.Add(1)
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "event: io.commsops.operation.completed") {
					delivered.Add(1)
					return
				}
			}
		}()
	}
	// Every query and stream has looked up and waits on the feed.
	for int(opened.Load()) < res.streams || ops.Pending() < res.polls+res.streams {
		if actx.Err() != nil {
			return res, fmt.Errorf("%d pending, %d streams open", ops.Pending(), opened.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	heap1, stack1 := liveBytes()
	res.bytesPerConn = float64(int64(heap1+stack1)-int64(heap0+stack0)) / float64(res.polls+res.streams)
	if s, err := js.Stream(ctx, events.StreamResolved); err == nil {
		if info, err := s.Info(ctx); err == nil {
			res.consumers = info.State.Consumers
		}
	}
	emit := func(cc string) error {
		m, err := eventstest.ResolvedMsg(cc, "1", "op", events.StatusCompleted)
		if err != nil {
			return err
		}
		_, err = js.PublishMsg(actx, m, jetstream.WithMsgID(m.Header.Get(events.HeaderID)))
		return err
	}
	for i := range res.polls {
		if err := emit(prefix + "poll-" + strconv.Itoa(i)); err != nil {
			return res, err
		}
	}
	for i := range res.streams {
		if err := emit(prefix + "stream-" + strconv.Itoa(i)); err != nil {
			return res, err
		}
	}
	wg.Wait()
	res.answered, res.delivered = int(answered.Load()), int(delivered.Load())
	if res.answered != res.polls || res.delivered != res.streams {
		return res, fmt.Errorf("%d of %d long-polls answered done, %d of %d streams delivered", res.answered, res.polls, res.delivered, res.streams)
	}
	return res, nil
}
