// Package ingest is the HTTP side of commsops: it receives Graph's
// notification callbacks and the bots' action responses, authenticates and
// validates them, splits callbacks into one CloudEvent per resource, stores
// every event in COMMS_IN and answers 202 only once all are stored.
// Errors are RFC 9457 problem+json.
package ingest
