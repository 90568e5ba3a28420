// Package jsutil holds the small JetStream helpers the services share:
// keeping a message being handled from redelivery (KeepAlive), publishing a
// batch asynchronously and awaiting every ack (PublishAll), reading a message
// as the stream's leader holds it (LeaderGet), and retrying a failing step
// with backoff (Retry).
package jsutil
