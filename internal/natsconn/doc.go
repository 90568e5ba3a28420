// Package natsconn connects a commsops process to NATS JetStream from the
// contract's variables (NATS_URL, credentials, TLS), and in dev mode (NATS_URL
// unset) joins or starts an embedded JetStream server on 127.0.0.1.
package natsconn
