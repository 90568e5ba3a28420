// Package graphtest gives tests Graph's payloads, the files of
// internal/graphwire/testdata (one quirk of Graph's each, see its README),
// from whichever package's tests read them: the parsers', the ingest's event
// construction, the JSON scanner's and pkg/events's codec.
package graphtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the path of internal/graphwire/testdata, found from the
// module's root: the nearest directory above the working directory (a
// package's, under go test) that holds go.mod.
func Dir() string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("internal", "graphwire", "testdata")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "internal", "graphwire", "testdata")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "internal", "graphwire", "testdata")
		}
	}
}

// Read returns the bytes of testdata/<rel>.
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Files returns the names of the .json files in testdata/<dir>.
func Files(tb testing.TB, dir string) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), dir, "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no testdata in %s: %v", dir, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// Payloads returns every payload file under testdata (not the fuzz corpus).
func Payloads(tb testing.TB) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), "*", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no testdata payloads: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// CheckRejection asserts err wraps want and that its message names every one
// of the given fragments (the field at fault).
func CheckRejection(t *testing.T, err, want error, names ...string) {
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
