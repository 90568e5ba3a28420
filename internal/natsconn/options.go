package natsconn

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// options returns the nats.Options for cfg: name, reconnect forever with
// jitter, logging of disconnects (a warning when the connection is lost, debug
// when this process closes it), and the one authentication method and the
// TLS settings configured.
func (c Config) options(name string, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(64 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// nats.go calls this on Close and Drain too, with a nil
			// error: only a lost connection is worth a warning.
			if err != nil {
				log.Warn("nats disconnected", "err", err)
				return
			}
			log.Debug("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			// ConnectedUrlRedacted masks a password but not a token
			// (nats://token@host): RedactURL masks both.
			log.Info("nats reconnected", "url", RedactURL(nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats async error", "subject", subject, "err", err)
		}),
	}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKeySeed != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS_NKEY_SEED: %w", ErrConfig, err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	// nats.Connect applies the options, reading the CA, certificate and key
	// files, at each attempt: apply them once here so that a missing or bad
	// file fails at once rather than after ConnectWait of retries.
	probe := nats.GetDefaultOptions()
	for _, o := range opts {
		if err := o(&probe); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return opts, nil
}

// RedactURL hides the user information (user:password, or a token) of each
// URL in a comma-separated NATS URL list. It works on the text rather than on
// a parsed URL so that URLs which do not parse (a password with an unescaped
// '/', '#' or '?') or have no scheme (svc:pw@host:4222, which nats.go
// accepts) are redacted too: everything between the scheme and the last '@'
// goes.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		start := len(p) - len(strings.TrimLeft(p, " \t"))
		if j := strings.Index(p[start:at], "://"); j > 0 && isScheme(p[start:start+j]) {
			start += j + len("://")
		}
		parts[i] = p[:start] + "redacted" + p[at:]
	}
	return strings.Join(parts, ",")
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.').
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
