// Package jsutil holds the small JetStream helpers the services share:
// keeping a message being handled from redelivery (KeepAlive), publishing a
// batch asynchronously and awaiting every ack (PublishAll), and retrying a
// failing step with backoff (Retry).
package jsutil
