// Package traffic generates the calling-bot traffic commsops is tested and
// measured with: operations whose evidence (the bot's action response and
// Graph's notifications) arrives interleaved, raced, duplicated and on shared
// clientContexts; the model of what the resolver must emit for it; and the
// HTTP bodies and stored events that carry it. The end-to-end tests
// (internal/e2e) and the benchmark (cmd/opsbench) share it, so that what is
// measured is what is tested.
package traffic
