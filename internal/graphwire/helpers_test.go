package graphwire

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/commsops/commsops/internal/graphwire/graphtest"
)

// checkCovered fails when a testdata file has no expectation in a table (or
// the table names a file that does not exist), so no payload goes untested.
func checkCovered[V any](t *testing.T, dir string, table map[string]V) {
	t.Helper()
	files := graphtest.Files(t, dir)
	for _, f := range files {
		if _, ok := table[f]; !ok {
			t.Errorf("testdata/%s/%s has no expectation", dir, f)
		}
	}
	for f := range table {
		if !slices.Contains(files, f) {
			t.Errorf("expectation for testdata/%s/%s, which does not exist", dir, f)
		}
	}
}

// resourceTypeOf returns the @odata.type of a resourceData element, "" if
// absent or if resource is not a valid JSON object.
func resourceTypeOf(resource json.RawMessage) string {
	if !json.Valid(resource) {
		return ""
	}
	return resourceType(resource)
}

// terminal reports whether a parsed status is completed or failed (as
// events.Status.Terminal does).
func terminal(status string) bool { return status == "completed" || status == "failed" }
