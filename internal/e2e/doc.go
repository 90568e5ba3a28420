// Package e2e holds the end-to-end tests of the pipeline: HTTP ingest →
// COMMS_IN → resolver workers → COMMS_RESOLVED, on real embedded nats-server
// instances. It has no non-test code besides this comment.
package e2e
