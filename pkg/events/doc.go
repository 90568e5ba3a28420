// Package events is the library of commsops for two readers.
//
// A calling bot stores the responses of the actions it sends to Graph as
// evidence (NewPublisher and Publisher.PublishResponse, or CaptureResponses
// around its Graph client's transport) and learns its operations' results
// from any process, before or after they arrive (NewOperations, then
// Operations.Await, Get, Lookup or Watch).
//
// A downstream subscriber consumes the resolved operation events of
// COMMS_RESOLVED (NewSubscriber, Subscriber.Run with a Handler receiving
// Resolved events whose data is a ResolvedOperation).
//
// Both read the contract's names: streams, subjects (Key, ResolvedSubject),
// event types and extension attributes, and the CloudEvents binary-mode
// codec over NATS headers (EncodeMsg, DecodeMsg). Parsing Graph's payloads
// and making the ingested events are the pipeline's own work, not part of
// this package. Names, subjects and event types only ever change
// additively.
package events
