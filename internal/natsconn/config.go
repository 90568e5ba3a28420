package natsconn

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the NATS part of every process's configuration, read with envconfig.
type Config struct {
	URL         string        `envconfig:"NATS_URL" desc:"NATS server(s), comma separated; unset: dev mode with an embedded JetStream server"`
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

// Validate returns ErrConfig naming the first problem: a negative or zero
// replica or partition count, a TLS key without certificate or the reverse, or
// more than one authentication method.
func (c Config) Validate() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("%w: COMMSOPS_REPLICAS=%d must be 1..5", ErrConfig, c.Replicas)
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		return fmt.Errorf("%w: COMMSOPS_PARTITIONS=%d must be 1..1024", ErrConfig, c.Partitions)
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
	return nil
}

// DevMode reports whether NATS_URL is unset.
func (c Config) DevMode() bool { return strings.TrimSpace(c.URL) == "" }
