package natsconn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// TestCredsFile: NATS_CREDS with a user JWT and seed, against a server in
// operator mode that knows the account; a creds file of a user signed by an
// unknown account is refused.
func TestCredsFile(t *testing.T) {
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "op"
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	op, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	account := func(js bool) (nkeys.KeyPair, string, string) {
		akp, _ := nkeys.CreateAccount()
		apub, _ := akp.PublicKey()
		ac := jwt.NewAccountClaims(apub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		if err != nil {
			t.Fatal(err)
		}
		return akp, apub, ajwt
	}
	akp, apub, ajwt := account(true)
	_, syspub, sysjwt := account(false)
	resolver := &server.MemAccResolver{}
	for pub, j := range map[string]string{apub: ajwt, syspub: sysjwt} {
		if err := resolver.Store(pub, j); err != nil {
			t.Fatal(err)
		}
	}
	creds := func(akp nkeys.KeyPair, name string) string {
		ukp, _ := nkeys.CreateUser()
		upub, _ := ukp.PublicKey()
		uc := jwt.NewUserClaims(upub)
		ujwt, err := uc.Encode(akp)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := ukp.Seed()
		b, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".creds")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := runServer(t, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{op}
		o.AccountResolver = resolver
		o.SystemAccount = syspub
	})
	cfg := Config{URL: clientURL(s, "nats"), Creds: creds(akp, "good"), Replicas: 1, Partitions: 1, ConnectWait: 2 * time.Second}
	c, err := Connect(context.Background(), cfg, "test", quiet())
	if err != nil {
		t.Fatalf("creds: %v", err)
	}
	useJetStream(t, c)
	c.Close(context.Background())

	strangerKP, _, _ := account(true) // an account the server does not know
	cfg.Creds = creds(strangerKP, "stranger")
	if _, err := Connect(context.Background(), cfg, "test", quiet()); err == nil {
		t.Fatal("a user of an unknown account connected")
	}
}
