package ingest

import (
	"strconv"

	"github.com/commsops/commsops/internal/jsonx"
)

// appendStored appends the 202 answer, how many events were stored and
// their ids, byte for byte as json.Encoder writes {"stored":n,"ids":[...]}
// with its newline (stored_test.go compares the two), and returns the
// extended slice.
func appendStored(b []byte, ids []string) []byte {
	b = append(b, `{"stored":`...)
	b = strconv.AppendInt(b, int64(len(ids)), 10)
	b = append(b, `,"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, id)
	}
	return append(b, "]}\n"...)
}
