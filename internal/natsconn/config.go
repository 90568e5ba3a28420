package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// Config is the NATS part of every process's configuration, read with envconfig.
type Config struct {
	URL         string        `envconfig:"NATS_URL" desc:"NATS server(s), comma separated; unset: dev mode with an embedded JetStream server" secret:"userinfo"`
	Creds       string        `envconfig:"NATS_CREDS" desc:"path of a NATS .creds file (JWT + nkey)"`
	NKeySeed    string        `envconfig:"NATS_NKEY_SEED" desc:"path of an nkey seed file" secret:"true"`
	User        string        `envconfig:"NATS_USER" desc:"NATS user name"`
	Password    string        `envconfig:"NATS_PASSWORD" desc:"NATS password" secret:"true"`
	Token       string        `envconfig:"NATS_TOKEN" desc:"NATS token" secret:"true"`
	TLSCA       string        `envconfig:"NATS_TLS_CA" desc:"path of the CA bundle that signs the servers' certificates"`
	TLSCert     string        `envconfig:"NATS_TLS_CERT" desc:"path of the client certificate (mTLS)"`
	TLSKey      string        `envconfig:"NATS_TLS_KEY" desc:"path of the client key (mTLS)" secret:"true"`
	Replicas    int           `envconfig:"COMMSOPS_REPLICAS" default:"1" desc:"replicas of the streams and KV buckets this process creates"`
	Partitions  int           `envconfig:"COMMSOPS_PARTITIONS" default:"16" desc:"COMMS_IN partitions when this process creates the stream (an existing stream keeps its count)"`
	DevDir      string        `envconfig:"COMMSOPS_DEV_DIR" desc:"dev mode: JetStream store directory (default: <tmp>/commsops-dev)"`
	DevPort     int           `envconfig:"COMMSOPS_DEV_PORT" default:"4222" desc:"dev mode: port of the embedded server on 127.0.0.1"`
	ConnectWait time.Duration `envconfig:"NATS_CONNECT_TIMEOUT" default:"10s" desc:"how long startup waits for NATS"`
}

// ErrConfig is returned (wrapped) for an inconsistent NATS configuration.
var ErrConfig = errors.New("natsconn: invalid configuration")

// Validate returns ErrConfig naming the first problem: a replica count out of
// 1..5 or a partition count out of 1..1024, a NATS_URL entry that does not
// parse, a dev-mode port out of 1..65535, a TLS key without certificate or the
// reverse, more than one authentication method, a user without password or
// the reverse, or a secret given inline where a file path belongs. The
// messages never quote a secret.
func (c Config) Validate() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("%w: COMMSOPS_REPLICAS=%d must be 1..5", ErrConfig, c.Replicas)
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		return fmt.Errorf("%w: COMMSOPS_PARTITIONS=%d must be 1..1024", ErrConfig, c.Partitions)
	}
	// nats.go parses each URL exactly so, and its parse error quotes the
	// whole URL, password included: catch it here and quote nothing. A
	// query or fragment (never part of a NATS URL) is most likely a '?' or
	// '#' of an unescaped password or token, which nats.go would take for
	// the end of the host.
	for i, u := range strings.Split(c.URL, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		if p, err := url.Parse(u); err != nil || p.RawQuery != "" || p.Fragment != "" || strings.HasSuffix(u, "#") || p.ForceQuery {
			return fmt.Errorf("%w: NATS_URL entry %d is not a valid URL (percent-encode special characters of a password or token)", ErrConfig, i+1)
		}
	}
	if c.DevMode() && (c.DevPort < 1 || c.DevPort > 65535) {
		return fmt.Errorf("%w: COMMSOPS_DEV_PORT=%d must be 1..65535", ErrConfig, c.DevPort)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: NATS_TLS_CERT and NATS_TLS_KEY go together", ErrConfig)
	}
	methods := 0
	for _, set := range []bool{c.Creds != "", c.NKeySeed != "", c.User != "" || c.Password != "", c.Token != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		return fmt.Errorf("%w: set only one of NATS_CREDS, NATS_NKEY_SEED, NATS_USER/NATS_PASSWORD, NATS_TOKEN", ErrConfig)
	}
	if (c.User == "") != (c.Password == "") {
		return fmt.Errorf("%w: NATS_USER and NATS_PASSWORD go together", ErrConfig)
	}
	// These hold paths; given the secret itself, the "no such file" error of
	// nats.go would quote it.
	for _, f := range []struct{ name, value string }{{"NATS_CREDS", c.Creds}, {"NATS_NKEY_SEED", c.NKeySeed}, {"NATS_TLS_KEY", c.TLSKey}} {
		if inlineSecret(f.value) {
			return fmt.Errorf("%w: %s must be the path of a file, not its contents", ErrConfig, f.name)
		}
	}
	return nil
}

// inlineSecret reports whether v looks like a key, seed or creds file's
// contents rather than a path: several lines, a PEM or creds armour, or an
// nkey seed.
func inlineSecret(v string) bool {
	if strings.ContainsAny(v, "\r\n") || strings.Contains(v, "-----BEGIN") {
		return true
	}
	_, err := nkeys.FromSeed([]byte(strings.TrimSpace(v)))
	return err == nil
}

// DevMode reports whether NATS_URL is unset.
func (c Config) DevMode() bool { return strings.TrimSpace(c.URL) == "" }
