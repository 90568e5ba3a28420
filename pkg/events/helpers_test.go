package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sentinels are the documented errors of errors.go: every rejection wraps one.
var sentinels = []error{ErrInvalidJSON, ErrInvalidPayload, ErrInvalidStatus, ErrClientContextTooLong,
	ErrClientContextInvalid, ErrNotCloudEvent, ErrBadHeaderEncoding, ErrTooDeep, ErrTooManyItems,
	ErrTooLarge, ErrValueTooLong, ErrDuplicateMember}

func wrapsSentinel(err error) bool {
	return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
}

// readTestdata returns the bytes of testdata/<rel>.
func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testdataFiles returns the names of the .json files in testdata/<dir>.
func testdataFiles(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata in %s: %v", dir, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// checkCovered fails when a testdata file has no expectation in a table (or
// the table names a file that does not exist), so no payload goes untested.
func checkCovered[V any](t *testing.T, dir string, table map[string]V) {
	t.Helper()
	files := testdataFiles(t, dir)
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

// checkRejection asserts err wraps want and that its message names every one
// of the given fragments (the field at fault).
func checkRejection(t *testing.T, err, want error, names ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error wrapping %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %v", err, want)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
}

// parseOperationChecked parses one commsOperation object as the parsers do
// after their depth check: ErrTooDeep, ErrInvalidJSON, ErrInvalidStatus and
// the clientContext errors as parseOperation returns them.
func parseOperationChecked(data []byte) (*Operation, error) {
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("operation: %w", err)
	}
	return parseOperation(data)
}

// resourceTypeOf returns the @odata.type of a resourceData element, "" if
// absent or if resource is not a valid JSON object.
func resourceTypeOf(resource json.RawMessage) string {
	if !json.Valid(resource) {
		return ""
	}
	return resourceType(resource)
}
