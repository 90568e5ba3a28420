// Package graphwire reads Microsoft Graph's wire format as the ingest and the
// resolver receive it: commsNotifications callbacks, commsOperation objects,
// the action-response envelope a bot posts, and resource URLs. Its parsers
// accept every quirk Graph is known to send and refuse, with the sentinel
// errors of internal/evterr (re-exported by pkg/events), anything readers
// could take two ways.
//
// pkg/events keeps the public twins of ActionResponse and ResultInfo (same
// fields and tags, so a plain conversion turns one into the other); nothing
// here imports pkg/events.
package graphwire

import "github.com/commsops/commsops/internal/jsonx"

// quoteShort returns b quoted for an error message, cut after
// jsonx.ShortLen bytes (see jsonx.QuoteShort).
func quoteShort[T ~string | ~[]byte](b T) string { return jsonx.QuoteShort(b) }
