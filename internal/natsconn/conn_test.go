package natsconn

import (
	"bytes"
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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

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
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func clientURL(s *server.Server, scheme string) string {
	return scheme + "://127.0.0.1:" + strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
}

// useJetStream proves the connection works end to end: a stream, a publish, an ack.
func useJetStream(t *testing.T, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JS.Publish(ctx, "t.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func TestAuthMethods(t *testing.T) {
	userKP, _ := nkeys.CreateUser()
	userPub, _ := userKP.PublicKey()
	seed, _ := userKP.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		server func(*server.Options)
		good   Config
		bad    Config
		secret string
	}{
		{"user and password", func(o *server.Options) { o.Username, o.Password = "svc", "s3cret-password" },
			Config{User: "svc", Password: "s3cret-password"}, Config{User: "svc", Password: "wrong-password"}, "wrong-password"},
		{"token", func(o *server.Options) { o.Authorization = "tok-1234567890" },
			Config{Token: "tok-1234567890"}, Config{Token: "tok-wrong-0987"}, "tok-wrong-0987"},
		{"nkey", func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: userPub}} },
			Config{NKeySeed: seedFile}, Config{User: "nobody", Password: "nothing"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runServer(t, tc.server)
			good := tc.good
			good.URL, good.Replicas, good.Partitions, good.ConnectWait = clientURL(s, "nats"), 1, 1, 2*time.Second
			c, err := Connect(context.Background(), good, "test", quiet())
			if err != nil {
				t.Fatalf("right credentials: %v", err)
			}
			useJetStream(t, c)
			c.Close(context.Background())

			bad := tc.bad
			bad.URL, bad.Replicas, bad.Partitions, bad.ConnectWait = clientURL(s, "nats"), 1, 1, 2*time.Second
			var logs bytes.Buffer
			start := time.Now()
			_, err = Connect(context.Background(), bad, "test", slog.New(slog.NewTextHandler(&logs, nil)))
			if err == nil {
				t.Fatal("wrong credentials connected")
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("refusal took %v", time.Since(start))
			}
			if tc.secret != "" && (strings.Contains(err.Error(), tc.secret) || strings.Contains(logs.String(), tc.secret)) {
				t.Fatalf("secret leaked: %v / %s", err, logs.String())
			}
		})
	}
}

// certs generates a CA, a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files; wrongCA is an unrelated CA.
func certs(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name string, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k, der
	}
	ca, caKey, caDER := newCA("test-ca")
	write("ca.pem", "CERTIFICATE", caDER)
	_, _, wrongDER := newCA("wrong-ca")
	write("wrong-ca.pem", "CERTIFICATE", wrongDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		kd, _ := x509.MarshalECPrivateKey(k)
		write(name+"-key.pem", "EC PRIVATE KEY", kd)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	leaf("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return dir
}

func TestMutualTLS(t *testing.T) {
	dir := certs(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p("server.pem"), KeyFile: p("server-key.pem"), CaFile: p("ca.pem"), Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s := runServer(t, func(o *server.Options) { o.TLSConfig, o.TLSVerify, o.TLS = tc, true, true })
	base := Config{URL: clientURL(s, "tls"), Replicas: 1, Partitions: 1, ConnectWait: 2 * time.Second}

	good := base
	good.TLSCA, good.TLSCert, good.TLSKey = p("ca.pem"), p("client.pem"), p("client-key.pem")
	c, err := Connect(context.Background(), good, "test", quiet())
	if err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	if !c.NC.TLSRequired() {
		t.Fatal("connection is not TLS")
	}
	if state, err := c.NC.TLSConnectionState(); err != nil || state.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %v %v", state.Version, err)
	}
	useJetStream(t, c)
	c.Close(context.Background())

	for _, bad := range []struct {
		name string
		cfg  Config
	}{
		{"no client certificate", Config{TLSCA: p("ca.pem")}},
		{"wrong CA", Config{TLSCA: p("wrong-ca.pem"), TLSCert: p("client.pem"), TLSKey: p("client-key.pem")}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			cfg := bad.cfg
			cfg.URL, cfg.Replicas, cfg.Partitions, cfg.ConnectWait = base.URL, 1, 1, time.Second
			if _, err := Connect(context.Background(), cfg, "test", quiet()); err == nil {
				t.Fatal("connected")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Replicas: 1, Partitions: 16}
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"replicas 0", func(c *Config) { c.Replicas = 0 }},
		{"replicas 6", func(c *Config) { c.Replicas = 6 }},
		{"partitions 0", func(c *Config) { c.Partitions = 0 }},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }},
		{"two auth methods", func(c *Config) { c.Token, c.User, c.Password = "t", "u", "p" }},
		{"user without password", func(c *Config) { c.User = "u" }},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestDevModeStartsOrJoins: the first dev-mode process starts the embedded
// server, the next one joins it; closing the joiner leaves the server up.
func TestDevModeStartsOrJoins(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := Config{Replicas: 1, Partitions: 1, DevPort: port, DevDir: t.TempDir(), ConnectWait: 5 * time.Second}
	first, err := Connect(context.Background(), cfg, "first", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if first.Embedded == nil {
		t.Fatal("first dev-mode process did not start a server")
	}
	second, err := Connect(context.Background(), cfg, "second", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if second.Embedded != nil {
		t.Fatal("second dev-mode process started another server instead of joining")
	}
	second.Close(context.Background())
	useJetStream(t, first)
	first.Close(context.Background())
	if reachable(first.URL) {
		t.Fatal("the embedded server outlived its owner")
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("nats://svc:hunter2@n1:4222,nats://n2:4222")
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "n2:4222") {
		t.Fatalf("%q", got)
	}
}
