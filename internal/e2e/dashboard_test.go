package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/pkg/events"
)

// TestDashboardQueriesExistingMetrics: every commsops_ metric the Grafana
// dashboard queries is one the processes export.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/commsops.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	// Every family an ingest and a resolver export, once one request went
	// through both (vectors appear only once they have a child).
	p := startPipeline(t)
	reg := prometheus.NewRegistry()
	cfg := resolverDefaults()
	cfg.Registerer = reg
	p.startWorker("w1", cfg)
	store := inbound.Storer{JS: p.js, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Log: testLog(t), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(mustJSON(notification(op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "dash", status: "completed"}))))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("ingest: %d", rec.Code)
	}
	p.out.waitFor(t, 10*time.Second, "resolved", func(evs []resolvedEvent) bool { return len(evs) == 1 })
	known := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for !known["commsops_resolver_events_total"] || !known["commsops_resolver_consumer_pending"] {
		if time.Now().After(deadline) {
			t.Fatalf("resolver metrics never appeared: %v", known)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			known[mf.GetName()] = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	re := regexp.MustCompile(`commsops_[a-z_]+`)
	suffix := regexp.MustCompile(`_(bucket|count|sum)$`)
	for _, panel := range dash.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			for _, m := range re.FindAllString(target.Expr, -1) {
				if base := suffix.ReplaceAllString(m, ""); !known[m] && !known[base] {
					t.Errorf("panel %q queries unknown metric %s", panel.Title, m)
				}
			}
		}
	}
}
