package graphsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// newUUID returns a version 4 UUID drawn from rng (from the unseeded global
// generator when rng is nil), lower case with dashes.
func newUUID(rng *rand.Rand) string {
	var hi, lo uint64
	if rng == nil {
		hi, lo = rand.Uint64(), rand.Uint64()
	} else {
		hi, lo = rng.Uint64(), rng.Uint64()
	}
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// normalizeID returns a GUID lower case with dashes, whatever its casing and
// dashes, as Graph's ids vary; other ids are only lower-cased.
func normalizeID(id string) string {
	s := strings.ToLower(strings.Trim(strings.TrimSpace(id), "{}"))
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return s
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// graphPathID returns id as Graph writes it in resource URLs: upper case,
// without dashes.
func graphPathID(id string) string {
	return strings.ToUpper(strings.ReplaceAll(id, "-", ""))
}
