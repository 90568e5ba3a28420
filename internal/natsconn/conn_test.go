package natsconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// All tests run real nats-server instances in-process on 127.0.0.1, each with
// JetStream and its own store directory; keys, seeds, creds files and
// certificates are generated at test time into t.TempDir().

// newLog returns a debug-level logger and what it wrote.
func newLog() (*slog.Logger, *servicetest.Buffer) {
	var b servicetest.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// runServer starts a JetStream server on 127.0.0.1 (a random port unless mod
// sets one) and shuts it down at the end of the test.
func runServer(t *testing.T, mod func(*server.Options)) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	if mod != nil {
		mod(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// testConfig is a valid configuration for url.
func testConfig(url string) Config {
	return Config{URL: url, Replicas: 1, Partitions: 1, DevPort: 4222, ConnectWait: 2 * time.Second}
}

// connect connects or fails the test, and closes the connection at its end.
func connect(t *testing.T, cfg Config, log *slog.Logger) *Conn {
	t.Helper()
	c, err := Connect(context.Background(), cfg, "natsconn-test", log)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// useJetStream proves the connection works end to end: it creates (or finds)
// the stream, publishes to it and checks the ack. It returns the ack.
func useJetStream(t *testing.T, c *Conn, stream string) *jetstream.PubAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := c.JS.Publish(ctx, stream+".1", []byte("x"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != stream || ack.Sequence == 0 {
		t.Fatalf("ack %+v", ack)
	}
	return ack
}

// noSecrets fails the test if what (an error message or logs) quotes a secret.
func noSecrets(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s quotes the secret %q: %s", what, s, text)
		}
	}
}

// refusal is a connection that must fail.
type refusal struct {
	name string
	cfg  Config
	want error // errors.Is, when not nil
	// fast: the failure is permanent (refused credentials, bad file,
	// untrusted server), so Connect must not wait ConnectWait for it.
	fast bool
}

// refused checks that Connect fails, as wanted, within its bound
// (ConnectWait, plus one nats.go dial timeout that may start just before the
// deadline; well under a second when the failure is permanent), and that
// neither the error nor the logs quote a secret.
func refused(t *testing.T, r refusal, secrets []string) {
	t.Helper()
	log, logs := newLog()
	start := time.Now()
	c, err := Connect(context.Background(), r.cfg, "natsconn-test", log)
	elapsed := time.Since(start)
	if err == nil {
		c.Close(context.Background())
		t.Fatal("connected")
	}
	if r.want != nil && !errors.Is(err, r.want) {
		t.Errorf("err = %v, want %v", err, r.want)
	}
	limit := r.cfg.ConnectWait + 2500*time.Millisecond
	if r.fast {
		limit = time.Second
	}
	if elapsed > limit {
		t.Errorf("refusal took %v (ConnectWait %v, fast %v): %v", elapsed, r.cfg.ConnectWait, r.fast, err)
	}
	noSecrets(t, "error", err.Error(), secrets)
	noSecrets(t, "log", logs.String(), secrets)
}

// TestAuthMethods: user/password, token and nkey, each against a server that
// requires it: the right credentials (as fields, or in the URL) connect and
// JetStream works; wrong or missing ones fail at once with an error and logs
// that quote no secret.
func TestAuthMethods(t *testing.T) {
	dir := t.TempDir()
	seedFile := func(name string) (path, pub, seed string) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ = kp.PublicKey()
		s, _ := kp.Seed()
		path = filepath.Join(dir, name+".nk")
		if err := os.WriteFile(path, s, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, pub, string(s)
	}
	goodSeedPath, goodPub, goodSeed := seedFile("user")
	strangerPath, _, strangerSeed := seedFile("stranger")

	const (
		password      = "s3cret-Pa55word"
		wrongPassword = "wr0ng-Pa55word"
		token         = "tok-1234567890abcdef"
		wrongToken    = "tok-fedcba0987654321"
	)
	cases := []struct {
		name    string
		server  func(*server.Options)
		good    map[string]Config // "HOST" in URL: the server's address
		bad     []refusal
		secrets []string // never in an error or a log
	}{
		{
			name:   "user and password",
			server: func(o *server.Options) { o.Username, o.Password = "svc", password },
			good: map[string]Config{
				"fields": {URL: "nats://HOST", User: "svc", Password: password},
				"in URL": {URL: "nats://svc:" + password + "@HOST"},
			},
			bad: []refusal{
				{name: "wrong password", cfg: Config{URL: "nats://HOST", User: "svc", Password: wrongPassword}, want: nats.ErrAuthorization, fast: true},
				{name: "wrong user", cfg: Config{URL: "nats://HOST", User: "other", Password: password}, want: nats.ErrAuthorization, fast: true},
				{name: "wrong password in URL", cfg: Config{URL: "nats://svc:" + wrongPassword + "@HOST"}, want: nats.ErrAuthorization, fast: true},
				{name: "none", cfg: Config{URL: "nats://HOST"}, want: nats.ErrAuthorization, fast: true},
			},
			secrets: []string{password, wrongPassword},
		},
		{
			name:   "token",
			server: func(o *server.Options) { o.Authorization = token },
			good: map[string]Config{
				"field":  {URL: "nats://HOST", Token: token},
				"in URL": {URL: "nats://" + token + "@HOST"},
			},
			bad: []refusal{
				{name: "wrong token", cfg: Config{URL: "nats://HOST", Token: wrongToken}, want: nats.ErrAuthorization, fast: true},
				{name: "wrong token in URL", cfg: Config{URL: "nats://" + wrongToken + "@HOST"}, want: nats.ErrAuthorization, fast: true},
				{name: "none", cfg: Config{URL: "nats://HOST"}, want: nats.ErrAuthorization, fast: true},
			},
			secrets: []string{token, wrongToken},
		},
		{
			name:   "nkey",
			server: func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: goodPub}} },
			good: map[string]Config{
				"seed file": {URL: "nats://HOST", NKeySeed: goodSeedPath},
			},
			bad: []refusal{
				{name: "unknown nkey", cfg: Config{URL: "nats://HOST", NKeySeed: strangerPath}, want: nats.ErrAuthorization, fast: true},
				{name: "none", cfg: Config{URL: "nats://HOST"}, want: nats.ErrAuthorization, fast: true},
				{name: "missing seed file", cfg: Config{URL: "nats://HOST", NKeySeed: filepath.Join(dir, "missing.nk")}, want: ErrConfig, fast: true},
				{name: "seed instead of its path", cfg: Config{URL: "nats://HOST", NKeySeed: goodSeed}, want: ErrConfig, fast: true},
			},
			secrets: []string{goodSeed, strangerSeed},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runServer(t, tc.server)
			host := "127.0.0.1:" + strconv.Itoa(port(s))
			fill := func(c Config, wait time.Duration) Config {
				c.URL = strings.ReplaceAll(c.URL, "HOST", host)
				c.Replicas, c.Partitions, c.ConnectWait = 1, 1, wait
				return c
			}
			for name, cfg := range tc.good {
				t.Run(name, func(t *testing.T) {
					log, logs := newLog()
					c := connect(t, fill(cfg, 2*time.Second), log)
					useJetStream(t, c, "T")
					noSecrets(t, "RedactedURL", c.RedactedURL(), tc.secrets)
					c.Close(context.Background())
					if !c.NC.IsClosed() {
						t.Error("Close left the connection open")
					}
					if !strings.Contains(logs.String(), "nats connected") {
						t.Errorf("no connect log: %s", logs)
					}
					noSecrets(t, "log", logs.String(), tc.secrets)
				})
			}
			for _, r := range tc.bad {
				t.Run(r.name, func(t *testing.T) {
					// A long ConnectWait: refused credentials must not wait for it.
					r.cfg = fill(r.cfg, 5*time.Second)
					refused(t, r, tc.secrets)
				})
			}
		})
	}
}

// TestReconnectLogsNoToken: the "reconnected" log of a connection with a
// token in its URL does not quote the token (nats.go's ConnectedUrlRedacted
// masks passwords only).
func TestReconnectLogsNoToken(t *testing.T) {
	const token = "tok-in-the-url-0123456789"
	first := runServer(t, func(o *server.Options) { o.Authorization = token })
	p := port(first)
	log, logs := newLog()
	c := connect(t, testConfig("nats://"+token+"@127.0.0.1:"+strconv.Itoa(p)), log)

	first.Shutdown()
	first.WaitForShutdown()
	runServer(t, func(o *server.Options) { o.Authorization, o.Port = token, p })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "nats reconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	useJetStream(t, c, "T")
	if !strings.Contains(logs.String(), "nats disconnected") {
		t.Errorf("no disconnect log: %s", logs)
	}
	noSecrets(t, "log", logs.String(), []string{token})
}

// TestConnectWait: a server that is not there is retried for ConnectWait and
// no longer; one that comes up within it is joined; a cancelled context
// stops the wait.
func TestConnectWait(t *testing.T) {
	t.Run("server never comes", func(t *testing.T) {
		cfg := testConfig("nats://127.0.0.1:" + strconv.Itoa(natstest.FreePort(t)))
		cfg.ConnectWait = 700 * time.Millisecond
		start := time.Now()
		refused(t, refusal{cfg: cfg}, nil)
		if d := time.Since(start); d < cfg.ConnectWait {
			t.Errorf("gave up after %v, before ConnectWait %v", d, cfg.ConnectWait)
		}
	})
	t.Run("server comes late", func(t *testing.T) {
		p := natstest.FreePort(t)
		cfg := testConfig("nats://127.0.0.1:" + strconv.Itoa(p))
		cfg.ConnectWait = 10 * time.Second
		started := make(chan *server.Server, 1)
		store := t.TempDir()
		go func() {
			time.Sleep(600 * time.Millisecond)
			s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: p, JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
			if err != nil {
				started <- nil
				return
			}
			go s.Start()
			started <- s
		}()
		t.Cleanup(func() {
			if s := <-started; s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		})
		log, _ := newLog()
		c := connect(t, cfg, log)
		useJetStream(t, c, "T")
	})
	t.Run("context cancelled", func(t *testing.T) {
		cfg := testConfig("nats://127.0.0.1:" + strconv.Itoa(natstest.FreePort(t)))
		cfg.ConnectWait = time.Minute
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Connect(ctx, cfg, "natsconn-test", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// pki holds PEM files generated for a test: a CA, a server certificate for
// 127.0.0.1 and localhost, a client certificate, and an unrelated CA with a
// client certificate of its own.
type pki struct{ dir string }

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir()}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(p.path(name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serial := int64(0)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, der
	}
	ca := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		c, k, der := issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
		write(name+".pem", "CERTIFICATE", der)
		return c, k
	}
	leaf := func(name string, usage x509.ExtKeyUsage, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) {
		_, k, der := issue(&x509.Certificate{Subject: pkix.Name{CommonName: name}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}, parent, parentKey)
		write(name+".pem", "CERTIFICATE", der)
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(name+"-key.pem", "EC PRIVATE KEY", kd)
	}
	caCert, caKey := ca("ca")
	leaf("server", x509.ExtKeyUsageServerAuth, caCert, caKey)
	leaf("client", x509.ExtKeyUsageClientAuth, caCert, caKey)
	wrongCert, wrongKey := ca("wrong-ca")
	leaf("rogue-client", x509.ExtKeyUsageClientAuth, wrongCert, wrongKey)
	return p
}

// TestMutualTLS: a server that requires TLS and verifies client certificates
// (mTLS) accepts a client with the CA, certificate and key; refuses one
// without a certificate or with one of another CA; a client that does not
// trust the server's CA, or cannot read its files, gives up at once.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.path("server.pem"), KeyFile: p.path("server-key.pem"), CaFile: p.path("ca.pem"), Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s := runServer(t, func(o *server.Options) { o.TLSConfig, o.TLSVerify, o.TLS = tc, true, true })
	hostPort := strconv.Itoa(port(s))
	mtls := func(url string) Config {
		c := testConfig(url)
		c.TLSCA, c.TLSCert, c.TLSKey = p.path("ca.pem"), p.path("client.pem"), p.path("client-key.pem")
		return c
	}

	for name, url := range map[string]string{
		"tls://127.0.0.1":  "tls://127.0.0.1:" + hostPort,
		"nats://localhost": "nats://localhost:" + hostPort, // the TLS options alone make it TLS
	} {
		t.Run(name, func(t *testing.T) {
			log, _ := newLog()
			c := connect(t, mtls(url), log)
			if !c.NC.TLSRequired() {
				t.Fatal("connection is not TLS")
			}
			state, err := c.NC.TLSConnectionState()
			if err != nil || state.Version < tls.VersionTLS12 || !state.HandshakeComplete {
				t.Fatalf("TLS state %+v %v", state, err)
			}
			useJetStream(t, c, "T")
		})
	}

	url := "tls://127.0.0.1:" + hostPort
	with := func(mod func(*Config)) Config {
		c := mtls(url)
		mod(&c)
		return c
	}
	short := func(c Config) Config { c.ConnectWait = 500 * time.Millisecond; return c }
	long := func(c Config) Config { c.ConnectWait = 5 * time.Second; return c }
	for _, r := range []refusal{
		// The server refuses these, in the handshake or after it (TLS 1.3):
		// nothing tells them apart from a transient failure, so they are
		// retried for ConnectWait.
		{name: "no client certificate", cfg: short(with(func(c *Config) { c.TLSCert, c.TLSKey = "", "" }))},
		{name: "client certificate of another CA", cfg: short(with(func(c *Config) {
			c.TLSCert, c.TLSKey = p.path("rogue-client.pem"), p.path("rogue-client-key.pem")
		}))},
		// The client refuses these itself, for good.
		{name: "wrong CA", cfg: long(with(func(c *Config) { c.TLSCA = p.path("wrong-ca.pem") })), fast: true},
		{name: "no CA (system roots)", cfg: long(with(func(c *Config) { c.TLSCA = "" })), fast: true},
		{name: "no TLS settings", cfg: long(with(func(c *Config) { c.TLSCA, c.TLSCert, c.TLSKey = "", "", "" })), fast: true},
		{name: "missing CA file", cfg: long(with(func(c *Config) { c.TLSCA = p.path("missing.pem") })), want: ErrConfig, fast: true},
		{name: "key of another certificate", cfg: long(with(func(c *Config) { c.TLSKey = p.path("server-key.pem") })), want: ErrConfig, fast: true},
	} {
		t.Run(r.name, func(t *testing.T) {
			key, err := os.ReadFile(p.path("client-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			refused(t, r, []string{string(key)})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	seedKP, _ := nkeys.CreateUser()
	seed, _ := seedKP.Seed()
	ok := Config{URL: "nats://n1:4222", Replicas: 1, Partitions: 16, DevPort: 4222}
	cases := []struct {
		name    string
		mod     func(*Config)
		wantErr string // a word of the error; "" for a valid configuration
		secret  string // never in the error
	}{
		{"defaults", func(*Config) {}, "", ""},
		{"dev mode", func(c *Config) { c.URL = "" }, "", ""},
		{"replicas 5, partitions 1024", func(c *Config) { c.Replicas, c.Partitions = 5, 1024 }, "", ""},
		{"user and password", func(c *Config) { c.User, c.Password = "u", "p" }, "", ""},
		{"token", func(c *Config) { c.Token = "t" }, "", ""},
		{"nkey seed file", func(c *Config) { c.NKeySeed = "/run/secrets/user.nk" }, "", ""},
		{"creds file", func(c *Config) { c.Creds = "/run/secrets/user.creds" }, "", ""},
		{"TLS CA only", func(c *Config) { c.TLSCA = "ca.pem" }, "", ""},
		{"mTLS and creds", func(c *Config) { c.TLSCA, c.TLSCert, c.TLSKey, c.Creds = "ca.pem", "c.pem", "k.pem", "u.creds" }, "", ""},
		{"URL list with credentials", func(c *Config) { c.URL = "nats://u:p@n1:4222, tls://n2, n3:4222" }, "", ""},

		{"replicas 0", func(c *Config) { c.Replicas = 0 }, "COMMSOPS_REPLICAS", ""},
		{"replicas -1", func(c *Config) { c.Replicas = -1 }, "COMMSOPS_REPLICAS", ""},
		{"replicas 6", func(c *Config) { c.Replicas = 6 }, "COMMSOPS_REPLICAS", ""},
		{"partitions 0", func(c *Config) { c.Partitions = 0 }, "COMMSOPS_PARTITIONS", ""},
		{"partitions 1025", func(c *Config) { c.Partitions = 1025 }, "COMMSOPS_PARTITIONS", ""},
		{"dev port 0", func(c *Config) { c.URL, c.DevPort = "", 0 }, "COMMSOPS_DEV_PORT", ""},
		{"dev port 65536", func(c *Config) { c.URL, c.DevPort = "", 65536 }, "COMMSOPS_DEV_PORT", ""},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "NATS_TLS_KEY", ""},
		{"key without cert", func(c *Config) { c.TLSKey = "k.pem" }, "NATS_TLS_CERT", ""},
		{"token and user", func(c *Config) { c.Token, c.User, c.Password = "t", "u", "p" }, "only one", ""},
		{"creds and nkey", func(c *Config) { c.Creds, c.NKeySeed = "u.creds", "u.nk" }, "only one", ""},
		{"token and creds", func(c *Config) { c.Token, c.Creds = "t", "u.creds" }, "only one", ""},
		{"user without password", func(c *Config) { c.User = "u" }, "NATS_PASSWORD", ""},
		{"password without user", func(c *Config) { c.Password = "hunter2" }, "NATS_USER", "hunter2"},
		{"URL with an unescaped '/' in the password", func(c *Config) { c.URL = "nats://svc:hun/ter2@n1:4222" }, "NATS_URL", "ter2"},
		{"URL with an unescaped '#' in the token", func(c *Config) { c.URL = "nats://n0, nats://tok#en99@n1" }, "NATS_URL entry 2", "en99"},
		{"URL with an unescaped '?' in the password", func(c *Config) { c.URL = "svc:hun?ter2@n1" }, "NATS_URL entry 1", "ter2"},
		{"URL with a trailing '#' in the token", func(c *Config) { c.URL = "nats://n1#" }, "NATS_URL entry 1", ""},
		{"nkey seed instead of its path", func(c *Config) { c.NKeySeed = string(seed) }, "NATS_NKEY_SEED", string(seed)},
		{"creds contents instead of the path", func(c *Config) {
			c.Creds = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.c2ln\n------END NATS USER JWT------\n" + string(seed)
		}, "NATS_CREDS", string(seed)},
		{"key contents instead of the path", func(c *Config) {
			c.TLSCert, c.TLSKey = "c.pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKEY\n-----END EC PRIVATE KEY-----\n"
		}, "NATS_TLS_KEY", "MHcCAQEEIKEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrConfig about %s", err, tc.wantErr)
			}
			noSecrets(t, "error", err.Error(), []string{tc.secret})
			// Connect refuses it the same way, before anything else.
			if _, cerr := Connect(context.Background(), c, "natsconn-test", nil); cerr == nil || cerr.Error() != err.Error() {
				t.Fatalf("Connect: %v, want %v", cerr, err)
			}
		})
	}
}

// TestDevMode: with NATS_URL unset the first process starts the embedded
// JetStream server on 127.0.0.1:DevPort, the next joins it; closing the joiner
// leaves the server up, closing the owner shuts it down; the store under
// DevDir outlives it.
func TestDevMode(t *testing.T) {
	cfg := Config{Replicas: 1, Partitions: 1, DevPort: natstest.FreePort(t), DevDir: t.TempDir(), ConnectWait: 5 * time.Second}
	want := "nats://127.0.0.1:" + strconv.Itoa(cfg.DevPort)
	ctx := context.Background()

	firstLog, firstLogs := newLog()
	first := connect(t, cfg, firstLog)
	if first.Embedded == nil {
		t.Fatal("the first dev-mode process did not start a server")
	}
	if first.URL != want || !first.Embedded.JetStreamEnabled() {
		t.Fatalf("URL %s (want %s), JetStream %v", first.URL, want, first.Embedded.JetStreamEnabled())
	}
	if !strings.Contains(firstLogs.String(), "started an embedded JetStream server") {
		t.Errorf("start not logged: %s", firstLogs)
	}
	useJetStream(t, first, "DEV")

	secondLog, secondLogs := newLog()
	second := connect(t, cfg, secondLog)
	if second.Embedded != nil {
		t.Fatal("the second dev-mode process started another server instead of joining")
	}
	if !strings.Contains(secondLogs.String(), "joining") {
		t.Errorf("join not logged: %s", secondLogs)
	}
	if ack := useJetStream(t, second, "DEV"); ack.Sequence != 2 {
		t.Fatalf("the joiner sees another stream: ack %+v", ack)
	}

	second.Close(ctx)
	if !second.NC.IsClosed() {
		t.Fatal("Close left the joiner's connection open")
	}
	if ack := useJetStream(t, first, "DEV"); ack.Sequence != 3 {
		t.Fatalf("ack %+v", ack)
	}
	if !reachable(want) {
		t.Fatal("closing the joiner stopped the server")
	}

	srv := first.Embedded
	first.Close(ctx)
	if first.Embedded != nil || srv.Running() || reachable(want) {
		t.Fatal("the embedded server outlived its owner")
	}
	first.Close(ctx) // twice: harmless

	// The next start finds the stream in DevDir.
	third := connect(t, cfg, nil)
	if third.Embedded == nil {
		t.Fatal("no server started after the owner left")
	}
	if ack := useJetStream(t, third, "DEV"); ack.Sequence != 4 {
		t.Fatalf("the store did not survive the restart: ack %+v", ack)
	}
}

// TestDevModePortTaken: a port held by something that is not a NATS server
// fails Connect in dev mode, quickly, and starts nothing.
func TestDevModePortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := Config{Replicas: 1, Partitions: 1, DevPort: l.Addr().(*net.TCPAddr).Port, DevDir: t.TempDir(), ConnectWait: 5 * time.Second}
	start := time.Now()
	c, err := Connect(context.Background(), cfg, "natsconn-test", nil)
	if err == nil {
		c.Close(context.Background())
		t.Fatal("connected to a port that is no NATS server")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v: %v", d, err)
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"nats://n1:4222", "nats://n1:4222"},
		{"nats://svc:hunter2@n1:4222,nats://n2:4222", "nats://redacted@n1:4222,nats://n2:4222"},
		{"nats://tok-hunter2@n1:4222", "nats://redacted@n1:4222"},
		{"nats://svc:xxxxx@n1:4222", "nats://redacted@n1:4222"}, // nats.go's ConnectedUrlRedacted
		{"svc:hunter2@n1:4222", "redacted@n1:4222"},             // no scheme: nats.go adds nats://
		{"nats://a:hunter2@n1, tls://b:hunter2@n2", "nats://redacted@n1, tls://redacted@n2"},
		{"nats://svc:hun/ter#2?@n1:4222", "nats://redacted@n1:4222"}, // does not parse as a URL
		{"nats://svc:hu@nter2@n1", "nats://redacted@n1"},
		{"svc:a://hunter2@n1", "redacted@n1"},
		{"nats://svc:hunter2%40x@n1", "nats://redacted@n1"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got := RedactURL(tc.in)
			if got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			noSecrets(t, "redacted URL", got, []string{"hunter2", "ter#2"})
		})
	}
}

// TestDisconnectLog: a lost connection is a warning with its cause; closing
// the connection (Close drains it) is no warning, and no "err=<nil>".
func TestDisconnectLog(t *testing.T) {
	cases := []struct {
		name       string
		disconnect func(t *testing.T, srv *server.Server, c *Conn)
		wantWarn   bool
	}{
		{"closed by this process", func(t *testing.T, _ *server.Server, c *Conn) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Close(ctx)
		}, false},
		{"server goes away", func(t *testing.T, srv *server.Server, _ *Conn) {
			srv.Shutdown()
			srv.WaitForShutdown()
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := runServer(t, nil)
			log, logs := newLog()
			c := connect(t, testConfig(srv.ClientURL()), log)
			tc.disconnect(t, srv, c)
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), `msg="nats disconnected"`) {
				if time.Now().After(deadline) {
					t.Fatalf("no disconnect log: %s", logs)
				}
				time.Sleep(20 * time.Millisecond)
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `msg="nats disconnected"`) {
					line = l
					break
				}
			}
			if warn := strings.Contains(line, "level=WARN"); warn != tc.wantWarn {
				t.Errorf("warning %v, want %v: %s", warn, tc.wantWarn, line)
			}
			if tc.wantWarn && !strings.Contains(line, "err=") {
				t.Errorf("the warning lacks the cause: %s", line)
			}
			if strings.Contains(line, "<nil>") {
				t.Errorf("logs a nil error: %s", line)
			}
		})
	}
}
