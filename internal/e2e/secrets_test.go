package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// Secrets planted in the variables that hold one; each is distinct, so a
// leak names the variable it came from.
const (
	secretURLPassword = "urlpw-S3cretA7"
	secretURLToken    = "urltok-S3cretB8"
	secretPassword    = "natspw-S3cretC9"
	secretToken       = "natstok-S3cretD0"
	secretBotToken    = "bottok-S3cretE1-0123456789"
	secretOTLPHeader  = "oteltok-S3cretF2"
)

// TestNoSecretInOutput runs every binary as its own process with a distinct
// secret in each variable that holds one, through start, -h, a NATS outage
// (disconnect and reconnect), shutdown and a failed start, and requires that
// none of the secrets appears in anything the process wrote.
func TestNoSecretInOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bins := buildBinaries(t, "./cmd/ingest", "./cmd/resolver", "./cmd/opsctl", "./cmd/devstack", "./examples/subscriber")
	seedFile, seed, seedPub := nkeySeedFile(t)
	secrets := []string{secretURLPassword, secretURLToken, secretPassword, secretToken, secretBotToken, secretOTLPHeader, seed}
	idp := openIDProvider(t)
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized) // every export fails
	}))
	t.Cleanup(otlp.Close)

	// common holds the variables every scenario sets: the bot tokens and the
	// OTLP exporter's headers, with the ingest in graph mode so that the
	// tokens are parsed and used.
	common := []string{
		"COMMSOPS_LOG_LEVEL=debug",
		"COMMSOPS_SHUTDOWN_TIMEOUT=3s",
		"NATS_CONNECT_TIMEOUT=1s",
		"INGEST_AUTH=graph",
		"INGEST_JWT_AUDIENCE=bot-app",
		"INGEST_OPENID_CONFIG_URL=" + idp.URL + "/openid",
		"INGEST_RESPONSE_TOKENS=" + secretBotToken + ",other-token-0123456789",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL,
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20" + secretOTLPHeader,
		"COMMSOPS_DEV_PORT=1", // a dev-mode fallback would fail, not join a stray server
	}
	scenarios := []struct {
		name    string
		urlOnly bool // NATS_URL carries the credentials (all the example subscriber reads)
		auth    natstest.Option
		env     func(url string) []string
	}{
		{"NATS_URL user:password", true, func(o *server.Options) { o.Username, o.Password = "alice", secretURLPassword },
			func(url string) []string {
				return []string{"NATS_URL=" + strings.Replace(url, "nats://", "nats://alice:"+secretURLPassword+"@", 1)}
			}},
		{"NATS_URL token", true, func(o *server.Options) { o.Authorization = secretURLToken },
			func(url string) []string {
				return []string{"NATS_URL=" + strings.Replace(url, "nats://", "nats://"+secretURLToken+"@", 1)}
			}},
		{"NATS_USER/NATS_PASSWORD", false, func(o *server.Options) { o.Username, o.Password = "svc", secretPassword },
			func(url string) []string {
				return []string{"NATS_URL=" + url, "NATS_USER=svc", "NATS_PASSWORD=" + secretPassword}
			}},
		{"NATS_TOKEN", false, func(o *server.Options) { o.Authorization = secretToken },
			func(url string) []string { return []string{"NATS_URL=" + url, "NATS_TOKEN=" + secretToken} }},
		{"NATS_NKEY_SEED", false, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: seedPub}} },
			func(url string) []string { return []string{"NATS_URL=" + url, "NATS_NKEY_SEED=" + seedFile} }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			srv := natstest.Run(t, sc.auth)
			env := append(append([]string{}, common...), sc.env(srv.URL())...)
			for _, b := range []struct {
				name  string
				args  []string
				ready string // a line the process writes once connected
			}{
				{"ingest", nil, "listening"},
				{"resolver", nil, "listening"},
				{"opsctl", []string{"tail"}, "nats connected"},
				{"subscriber", nil, "printing completed"},
			} {
				if b.name == "subscriber" && !sc.urlOnly {
					continue
				}
				t.Run(b.name, func(t *testing.T) {
					penv := append(append([]string{}, env...),
						"INGEST_ADDR="+servicetest.FreeAddr(t), "INGEST_API_ADDR="+servicetest.FreeAddr(t), "RESOLVER_ADDR="+servicetest.FreeAddr(t))
					help := ""
					if b.name != "subscriber" { // it has no flags
						help = runToEnd(t, bins[b.name], penv, "-h")
					}
					p := startProcess(t, bins[b.name], penv, b.args...)
					p.waitFor(t, b.ready)
					if b.name == "ingest" {
						p.badTokenRequest(t, penv)
					}
					srv.Shutdown()
					if b.name != "subscriber" { // it logs nothing of its connection
						p.waitFor(t, "nats disconnected")
					}
					srv.Restart()
					if b.name != "subscriber" {
						p.waitFor(t, "nats reconnected")
					}
					p.stop(t)
					// A start that cannot reach NATS: the error path.
					srv.Shutdown()
					failed := runToEnd(t, bins[b.name], penv, b.args...)
					srv.Restart()
					assertNoSecret(t, secrets, "-h", help)
					assertNoSecret(t, secrets, "run", p.out.String())
					assertNoSecret(t, secrets, "failed start", failed)
				})
			}
			t.Run("devstack", func(t *testing.T) {
				// devstack refuses a NATS_URL: its refusal must not quote it.
				out := runToEnd(t, bins["devstack"], env)
				if !strings.Contains(out, "dev mode") {
					t.Fatalf("devstack did not refuse NATS_URL:\n%s", out)
				}
				assertNoSecret(t, secrets, "refusal", out)
				assertNoSecret(t, secrets, "-h", runToEnd(t, bins["devstack"], env, "-h"))
			})
		})
	}
}

// assertNoSecret fails t when out contains any of secrets.
func assertNoSecret(t *testing.T, secrets []string, what, out string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s output leaks %q:\n%s", what, s, out)
		}
	}
}

// buildBinaries builds each package into one temporary directory and returns
// the binaries by their base name.
func buildBinaries(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binaries: %v", err)
	}
	cmd := exec.Command(goBin, append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		bins[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return bins
}

// moduleRoot returns the directory of the root module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// nkeySeedFile writes a new user nkey seed to a file and returns its path,
// the seed and the public key.
func nkeySeedFile(t *testing.T) (path, seed, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kp.Seed()
	pub, _ = kp.PublicKey()
	path = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(path, s, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(s), pub
}

// openIDProvider serves an OpenID configuration and a JWKS of one RSA key,
// enough for the ingest to start with INGEST_AUTH=graph.
func openIDProvider(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","n":%q,"e":%q}]}`,
		b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/openid":
			fmt.Fprintf(w, `{"issuer":"https://api.botframework.com","jwks_uri":%q}`, "http://"+r.Host+"/keys")
		case "/keys":
			fmt.Fprint(w, jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// process is a binary started by startProcess, its output collected.
type process struct {
	cmd  *exec.Cmd
	out  *servicetest.Buffer
	done chan error
}

// startProcess starts bin with env (and no other variable of the test's) and
// collects its standard output and error.
func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &servicetest.Buffer{}, done: make(chan error, 1)}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// waitFor waits until the process has written want, failing t when it exits
// or servicetest.WaitLimit passes first.
func (p *process) waitFor(t *testing.T, want string) {
	t.Helper()
	servicetest.WaitFor(t, "waiting for "+want, func() error {
		if strings.Contains(p.out.String(), want) {
			return nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited (%v) without writing %q:\n%s", err, want, p.out.String())
		default:
		}
		return fmt.Errorf("not yet written: %q", want)
	})
}

// badTokenRequest posts a response with a wrong bearer token to the ingest and
// checks that its problem detail quotes no secret.
func (p *process) badTokenRequest(t *testing.T, env []string) {
	t.Helper()
	addr := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "INGEST_ADDR="); ok {
			addr = v
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/responses", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secretBotToken[:len(secretBotToken)-1]+"x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = fmt.Fprint(&body, resp.Status)
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	body.Write(buf[:n])
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %s", body.String())
	}
	assertNoSecret(t, []string{secretBotToken}, "401 answer", body.String())
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM:\n%s", p.out.String())
	}
}

// runToEnd runs bin to its end (at most 30s) and returns what it wrote.
func runToEnd(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	p := startProcess(t, bin, env, args...)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %v still running after 30s:\n%s", bin, args, p.out.String())
	}
	return p.out.String()
}
