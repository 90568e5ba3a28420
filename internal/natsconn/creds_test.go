package natsconn

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// operator is a NATS operator-mode setup generated at test time: an operator,
// a system account and accounts signed by it, users with .creds files.
type operator struct {
	t        *testing.T
	kp       nkeys.KeyPair
	claims   *jwt.OperatorClaims
	resolver *server.MemAccResolver
	dir      string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	oc := jwt.NewOperatorClaims(pub)
	oc.Name = "test-operator"
	token, err := oc.Encode(kp)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.DecodeOperatorClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	return &operator{t: t, kp: kp, claims: claims, resolver: &server.MemAccResolver{}, dir: t.TempDir()}
}

// account signs an account (with unlimited JetStream when js) and, when
// known, stores its JWT in the server's resolver.
func (o *operator) account(name string, js, known bool) (nkeys.KeyPair, string) {
	o.t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		o.t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	if js {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	token, err := ac.Encode(o.kp)
	if err != nil {
		o.t.Fatal(err)
	}
	if known {
		if err := o.resolver.Store(pub, token); err != nil {
			o.t.Fatal(err)
		}
	}
	return kp, pub
}

// creds writes the .creds file of a new user of the account and returns its
// path and the user's seed.
func (o *operator) creds(account nkeys.KeyPair, name string, mod func(*jwt.UserClaims)) (path, seed string) {
	o.t.Helper()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		o.t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	if mod != nil {
		mod(uc)
	}
	token, err := uc.Encode(account)
	if err != nil {
		o.t.Fatal(err)
	}
	s, _ := ukp.Seed()
	b, err := jwt.FormatUserConfig(token, s)
	if err != nil {
		o.t.Fatal(err)
	}
	path = filepath.Join(o.dir, name+".creds")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		o.t.Fatal(err)
	}
	return path, string(s)
}

// TestCredsFile: NATS_CREDS against a server in operator mode (memory
// resolver, system account, JetStream enabled for the account): the user's
// creds file connects, JetStream and core publish/subscribe work; users the
// server cannot accept fail at once, quoting no seed.
func TestCredsFile(t *testing.T) {
	op := newOperator(t)
	_, sysPub := op.account("SYS", false, true)
	appKP, _ := op.account("APP", true, true)
	strangerKP, _ := op.account("STRANGER", true, false)

	good, goodSeed := op.creds(appKP, "svc", nil)
	stranger, strangerSeed := op.creds(strangerKP, "stranger", nil)
	expired, expiredSeed := op.creds(appKP, "expired", func(uc *jwt.UserClaims) { uc.Expires = time.Now().Add(-time.Hour).Unix() })
	contents, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{goodSeed, strangerSeed, expiredSeed}

	s := runServer(t, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{op.claims}
		o.AccountResolver = op.resolver
		o.SystemAccount = sysPub
	})
	url := "nats://127.0.0.1:" + strconv.Itoa(port(s))
	withCreds := func(path string) Config {
		c := testConfig(url)
		c.Creds, c.ConnectWait = path, 5*time.Second
		return c
	}

	t.Run("user of the account", func(t *testing.T) {
		log, logs := newLog()
		c := connect(t, withCreds(good), log)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := c.JS.AccountInfo(ctx)
		if err != nil {
			t.Fatalf("JetStream account info: %v", err)
		}
		if info.Limits.MaxStreams != -1 {
			t.Errorf("account limits %+v: not the APP account's", info.Limits)
		}
		useJetStream(t, c, "T")

		sub, err := c.NC.SubscribeSync("core.subject")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.NC.Publish("core.subject", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(m.Data) != "hello" {
			t.Fatalf("core round trip: %v %v", m, err)
		}
		c.Close(context.Background())
		noSecrets(t, "log", logs.String(), secrets)
	})
	for _, r := range []refusal{
		{name: "user of an account the server does not know", cfg: withCreds(stranger), want: nats.ErrAuthorization, fast: true},
		{name: "expired user", cfg: withCreds(expired), want: nats.ErrAuthorization, fast: true},
		{name: "missing creds file", cfg: withCreds(filepath.Join(op.dir, "missing.creds")), fast: true},
		{name: "creds contents instead of the path", cfg: withCreds(string(contents)), want: ErrConfig, fast: true},
		{name: "no credentials", cfg: withCreds(""), want: nats.ErrAuthorization, fast: true},
	} {
		t.Run(r.name, func(t *testing.T) { refused(t, r, secrets) })
	}
}
