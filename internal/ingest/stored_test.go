package ingest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/commsops/commsops/internal/randfill"
)

// storedBody is the 202 answer as encoding/json writes it.
type storedBody struct {
	Stored int      `json:"stored"`
	IDs    []string `json:"ids"`
}

// TestAppendStoredMatchesEncodingJSON: the 202 answer is what json.Encoder
// wrote for storedBody, for no, one and several ids, plain or needing escapes.
func TestAppendStoredMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		ids := make([]string, i%5)
		for j := range ids {
			ids[j] = "n-" + randfill.String(r)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(storedBody{Stored: len(ids), IDs: ids}); err != nil {
			t.Fatal(err)
		}
		if got := appendStored(nil, ids); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendStored(%q) = %q, encoding/json %q", ids, got, want.Bytes())
		}
	}
}
