package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// contractVarRE finds the commsops variables a file mentions.
var contractVarRE = regexp.MustCompile(`\b(?:NATS|COMMSOPS|INGEST|RESOLVER)_[A-Z0-9_]+\b`)

// TestRunScript: deploy/local/run.sh parses, sets only contract variables and
// runs the processes on the ports of the issue.
func TestRunScript(t *testing.T) {
	script, err := os.ReadFile("local/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("bash -n", func(t *testing.T) {
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skip("no bash")
		}
		if out, err := exec.Command(bash, "-n", "local/run.sh").CombinedOutput(); err != nil {
			t.Fatalf("bash -n local/run.sh: %v\n%s", err, out)
		}
	})
	t.Run("executable", func(t *testing.T) {
		fi, err := os.Stat("local/run.sh")
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Fatalf("local/run.sh is not executable: %v", err)
		}
	})
	t.Run("variables", func(t *testing.T) {
		for _, v := range contractVarRE.FindAllString(string(script), -1) {
			if !contractEnv[v] {
				t.Errorf("run.sh uses %s, which no commsops process reads", v)
			}
		}
		for _, v := range []string{"NATS_URL", "INGEST_AUTH=none", "INGEST_ADDR", "INGEST_API_ADDR", "RESOLVER_ADDR", "RESOLVER_WORKER_ID", "COMMSOPS_REPLICAS=3"} {
			if !strings.Contains(string(script), v) {
				t.Errorf("run.sh does not set %s", v)
			}
		}
	})
	t.Run("ports", func(t *testing.T) {
		for _, want := range []string{
			"nats_client_ports=(4222 4223 4224)", "nats_route_ports=(6222 6223 6224)",
			"ingest_ports=(8080 8082)", "ingest_api_ports=(8090 8092)", "resolver_ports=(8081 8083 8085)", "host=127.0.0.1",
		} {
			if !strings.Contains(string(script), want) {
				t.Errorf("run.sh has no %q", want)
			}
		}
	})
	t.Run("commands", func(t *testing.T) {
		for _, c := range []string{"up)", "down)", "status)"} {
			if !strings.Contains(string(script), "\n  "+c) {
				t.Errorf("run.sh has no %s command", strings.TrimSuffix(c, ")"))
			}
		}
	})
}

// TestDockerfile: the image builds one chosen binary statically and runs it
// as a numeric non-root user on distroless.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	var froms, users, exposes []string
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, line)
		case "USER":
			users = append(users, f[1])
		case "EXPOSE":
			exposes = append(exposes, f[1:]...)
		}
	}
	cases := []struct {
		name string
		ok   bool
	}{
		{"multi-stage", len(froms) >= 2},
		{"final stage is distroless static nonroot", len(froms) > 0 && strings.Contains(froms[len(froms)-1], "gcr.io/distroless/static-debian12:nonroot")},
		{"numeric non-root USER", len(users) > 0 && regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(users[len(users)-1])},
		{"BINARY build arg", strings.Contains(df, "ARG BINARY") && strings.Contains(df, `./cmd/${BINARY}`)},
		{"VERSION build arg stamped into main.version", strings.Contains(df, "ARG VERSION") && strings.Contains(df, "-X main.version=${VERSION}")},
		{"static build", strings.Contains(df, "CGO_ENABLED=0") && strings.Contains(df, "-trimpath") && strings.Contains(df, `-s -w`)},
		{"exposes 8080 and 8081", slices.Contains(exposes, "8080") && slices.Contains(exposes, "8081")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Error("not so")
			}
		})
	}
	t.Run("the build context holds what the build copies", func(t *testing.T) {
		ignore, err := os.ReadFile("Dockerfile.dockerignore")
		if err != nil {
			t.Fatal(err)
		}
		copied := 0
		for _, line := range strings.Split(df, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || strings.ToUpper(f[0]) != "COPY" || strings.HasPrefix(f[1], "--from=") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				copied++
				if !strings.Contains(string(ignore), "\n!"+src+"\n") && !strings.Contains(string(ignore), "\n!"+src+"/\n") {
					t.Errorf("COPY %s: Dockerfile.dockerignore leaves it out", src)
				}
			}
		}
		if copied == 0 {
			t.Error("no COPY from the build context")
		}
	})
	t.Run("binaries exist", func(t *testing.T) {
		for _, name := range []string{"ingest", "resolver", "opsctl"} {
			if _, err := os.Stat(filepath.Join("..", "cmd", name)); err != nil {
				t.Skipf("../cmd/%s not there (yet): %v", name, err)
			}
		}
	})
}

// TestCodeReadsManifestVariables: every variable the manifests and run.sh
// set is read by some commsops process (an envconfig tag in ../cmd or
// ../internal), or by the Go runtime (runtimeEnv). Skipped where the sources are not beside this module.
func TestCodeReadsManifestVariables(t *testing.T) {
	read := map[string]bool{}
	tag := regexp.MustCompile(`envconfig:"([A-Z0-9_]+)"`)
	for _, dir := range []string{"../cmd", "../internal"} {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, m := range tag.FindAllStringSubmatch(string(b), -1) {
				read[m[1]] = true
			}
			return nil
		})
	}
	if len(read) == 0 {
		t.Skip("no commsops sources beside this module")
	}
	used := map[string]string{}
	for _, o := range overlays {
		m := render(t, o)
		if cfg, err := m.config(); err == nil {
			for k := range cfg.Data {
				used[k] = o.name + " ConfigMap"
			}
		}
		if s := m.secret(); s != nil {
			for k := range s.Data {
				used[k] = o.name + " Secret"
			}
		}
		for _, p := range processes {
			for _, e := range m.deployments[p.name].Spec.Template.Spec.Containers[0].Env {
				used[e.Name] = o.name + " " + p.name
			}
		}
	}
	script, err := os.ReadFile("local/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range contractVarRE.FindAllString(string(script), -1) {
		used[v] = "run.sh"
	}
	for _, k := range keys(used) {
		t.Run(k, func(t *testing.T) {
			if !read[k] && !runtimeEnv[k] {
				t.Errorf("%s (set by the %s) is read by no envconfig tag under ../cmd or ../internal", k, used[k])
			}
		})
	}
}

// TestNATSConfigWithServer: nats-server's own configuration parser accepts
// each overlay's nats.conf with the environment its container gets, as
// "nats-server -t" does (warnings count as errors), in-process, so the check
// never depends on a binary being installed. Without that environment the
// same file is refused.
func TestNATSConfigWithServer(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			m := render(t, o)
			conf := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(conf, []byte(m.natsConf()), 0o600); err != nil {
				t.Fatal(err)
			}
			env := m.natsEnv()
			if len(env) == 0 {
				t.Fatal("the nats container sets no environment")
			}
			// The parser resolves $VARIABLES from the process environment.
			for k := range env {
				t.Setenv(k, "") // restored when the test ends
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			if err := checkNATSConfig(conf); err == nil {
				t.Fatal("nats.conf accepted without its container's environment")
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			if err := checkNATSConfig(conf); err != nil {
				t.Fatalf("nats-server refuses nats.conf: %v", err)
			}
		})
	}
}

// checkNATSConfig parses the configuration file as "nats-server -t -c path".
func checkNATSConfig(path string) error {
	opts := &server.Options{CheckConfig: true}
	return opts.ProcessConfigFile(path)
}

// natsEnv returns the environment of the nats container, each value as the
// cluster would give it (the pod name for a field reference, the referenced
// ConfigMap or Secret value, a password of the documented form for the
// Secret created outside).
func (m *manifests) natsEnv() map[string]string {
	c := m.statefulSets["nats"].Spec.Template.Spec.Containers[0]
	env := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v = m.statefulSets["nats"].Name + "-0"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			v = m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name].Data[e.ValueFrom.ConfigMapKeyRef.Key]
		case e.ValueFrom.SecretKeyRef != nil && m.secrets[e.ValueFrom.SecretKeyRef.Name] != nil:
			v = string(m.secrets[e.ValueFrom.SecretKeyRef.Name].Data[e.ValueFrom.SecretKeyRef.Key])
		default: // the Secret created outside: a password of the documented form
			v = "pw0123456789abcdef0123456789abcdef"
		}
		env[e.Name] = v
	}
	return env
}
