// Package events is the shared library of commsops: the Microsoft Graph
// comms types as they arrive on the wire (parsed tolerantly), the action-response
// envelope a bot posts, the resolved operation the resolver emits, the subject
// and key scheme of the JetStream streams, the CloudEvents binary-mode codec over
// NATS headers, a Publisher a bot can use to store action responses straight into
// JetStream, and a Subscriber for downstream consumers of resolved events.
//
// Everything here is part of the public contract (CONTRACT.md): names, subjects
// and event types only ever change additively.
package events
