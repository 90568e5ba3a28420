package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// forwarderPort is FORWARDER_ADDR's port: /healthz, /readyz, /metrics.
const forwarderPort = 8083

// forwarderChecks are the rules of the forwarder's manifest in every
// overlay; each returns the violations it finds.
var forwarderChecks = []check{
	{"deployment", checkForwarderDeployment},
	{"env", checkForwarderEnv},
	{"pdb", checkForwarderPDB},
	{"keda", checkForwarderKEDA},
}

// TestForwarderManifest: the forwarder runs like the other processes (probes,
// Prometheus, shutdown, security), takes the sink token from the Secret and
// never K_SINK from the manifests (a SinkBinding sets it), has a PDB, and
// KEDA scales it on the lag of the durable it consumes.
func TestForwarderManifest(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			m := render(t, o)
			for _, c := range forwarderChecks {
				t.Run(c.name, func(t *testing.T) {
					for _, err := range c.fn(m) {
						t.Error(err)
					}
				})
			}
		})
	}
}

// TestForwarderChecksCatch: each forwarder rule fails on a manifest broken
// the way it guards against.
func TestForwarderChecksCatch(t *testing.T) {
	container := func(m *manifests) *corev1.Container {
		return &m.deployments["forwarder"].Spec.Template.Spec.Containers[0]
	}
	cases := []struct {
		name, check string
		fn          func(m *manifests) []error
		breakIt     func(m *manifests)
	}{
		{"readiness on healthz", "deployment", checkForwarderDeployment, func(m *manifests) { container(m).ReadinessProbe.HTTPGet.Path = "/healthz" }},
		{"root filesystem writable", "deployment", checkForwarderDeployment, func(m *manifests) {
			f := false
			container(m).SecurityContext.ReadOnlyRootFilesystem = &f
		}},
		{"grace shorter than the shutdown", "deployment", checkForwarderDeployment, func(m *manifests) {
			g := int64(10)
			m.deployments["forwarder"].Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}},
		{"token as a literal", "env", checkForwarderEnv, func(m *manifests) {
			setEnvVar(container(m), corev1.EnvVar{Name: "FORWARDER_SINK_TOKEN", Value: "t0ken"})
		}},
		{"sink in the manifest", "env", checkForwarderEnv, func(m *manifests) {
			setEnvVar(container(m), corev1.EnvVar{Name: "K_SINK", Value: "http://sink"})
		}},
		{"unknown variable", "env", checkForwarderEnv, func(m *manifests) {
			setEnvVar(container(m), corev1.EnvVar{Name: "FORWARDER_RETRIES", Value: "3"})
		}},
		{"pdb of another app", "pdb", checkForwarderPDB, func(m *manifests) {
			m.pdbs["forwarder"].Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "resolver"}
		}},
		{"keda on another consumer", "keda", checkForwarderKEDA, func(m *manifests) {
			m.scaledObjects["forwarder"].Spec.Triggers[0].Metadata["consumer"] = "resolver-0"
		}},
		{"no standby", "keda", checkForwarderKEDA, func(m *manifests) {
			one := int32(1)
			m.scaledObjects["forwarder"].Spec.MinReplicaCount = &one
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, overlays[len(overlays)-1])
			if errs := tc.fn(m); len(errs) > 0 {
				t.Fatalf("%s fails before the change: %v", tc.check, errs)
			}
			tc.breakIt(m)
			if errs := tc.fn(m); len(errs) == 0 {
				t.Fatalf("%s does not catch it", tc.check)
			}
		})
	}
}

func setEnvVar(c *corev1.Container, e corev1.EnvVar) {
	for i := range c.Env {
		if c.Env[i].Name == e.Name {
			c.Env[i] = e
			return
		}
	}
	c.Env = append(c.Env, e)
}

func checkForwarderDeployment(m *manifests) (errs []error) {
	d := m.deployments["forwarder"]
	if d == nil {
		return []error{fmt.Errorf("no Deployment forwarder")}
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return []error{fmt.Errorf("forwarder: %d containers, want 1", len(spec.Containers))}
	}
	c := spec.Containers[0]
	if containerPortNamed(c, "http") != forwarderPort {
		errs = append(errs, fmt.Errorf("forwarder: container port http is not %d", forwarderPort))
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.StartupProbe, "/healthz"}, {c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || containerPort(c, p.probe.HTTPGet.Port) != forwarderPort {
			errs = append(errs, fmt.Errorf("forwarder: a probe is not GET %s on %d", p.path, forwarderPort))
		}
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/port"] != strconv.Itoa(forwarderPort) || a["prometheus.io/path"] != "/metrics" {
		errs = append(errs, fmt.Errorf("forwarder: Prometheus annotations %v", a))
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= 20 {
		errs = append(errs, fmt.Errorf("forwarder: terminationGracePeriodSeconds must exceed COMMSOPS_SHUTDOWN_TIMEOUT (20s)"))
	}
	ps, sc := spec.SecurityContext, c.SecurityContext
	switch {
	case ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil:
		errs = append(errs, fmt.Errorf("forwarder: the pod must run as non-root with a seccomp profile"))
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0:
		errs = append(errs, fmt.Errorf("forwarder: the container must have a read-only root, no privilege escalation, every capability dropped"))
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		errs = append(errs, fmt.Errorf("forwarder: no memory limit or CPU request"))
	}
	if r := d.Spec.Replicas; r == nil || *r < 2 {
		errs = append(errs, fmt.Errorf("forwarder: fewer than 2 replicas: no standby"))
	}
	return errs
}

// forwarderReads returns the variables cmd/forwarder reads (its envconfig
// tags), or nil when the sources are not beside this module.
func forwarderReads() map[string]bool {
	b, err := os.ReadFile("../cmd/forwarder/main.go")
	if err != nil {
		return nil
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`envconfig:"([A-Z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
		read[m[1]] = true
	}
	return read
}

func checkForwarderEnv(m *manifests) (errs []error) {
	d := m.deployments["forwarder"]
	if d == nil {
		return []error{fmt.Errorf("no Deployment forwarder")}
	}
	c := d.Spec.Template.Spec.Containers[0]
	var fromConfig, fromSecret bool
	for _, ef := range c.EnvFrom {
		fromConfig = fromConfig || (ef.ConfigMapRef != nil && strings.HasPrefix(ef.ConfigMapRef.Name, "commsops-config"))
		fromSecret = fromSecret || (ef.SecretRef != nil && strings.HasPrefix(ef.SecretRef.Name, secretName)) // dev: a generated name
	}
	if !fromConfig || !fromSecret {
		errs = append(errs, fmt.Errorf("forwarder: want envFrom the ConfigMap commsops-config and the Secret %s (NATS_PASSWORD)", secretName))
	}
	read := forwarderReads()
	for _, e := range c.Env {
		if read != nil && !read[e.Name] && !contractEnv[e.Name] && !runtimeEnv[e.Name] {
			errs = append(errs, fmt.Errorf("forwarder sets %s, which cmd/forwarder does not read", e.Name))
		}
		if e.Name == "K_SINK" {
			errs = append(errs, fmt.Errorf("forwarder: K_SINK is set by a SinkBinding (or an overlay patch), not the base"))
		}
	}
	tok := envVar(c, "FORWARDER_SINK_TOKEN")
	if tok == nil || tok.Value != "" || tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef == nil ||
		!strings.HasPrefix(tok.ValueFrom.SecretKeyRef.Name, secretName) || tok.ValueFrom.SecretKeyRef.Key != "FORWARDER_SINK_TOKEN" {
		errs = append(errs, fmt.Errorf("forwarder: FORWARDER_SINK_TOKEN must come from the Secret %s, key FORWARDER_SINK_TOKEN", secretName))
	}
	if port := envValue(c, "FORWARDER_ADDR"); port != ":"+strconv.Itoa(forwarderPort) {
		errs = append(errs, fmt.Errorf("forwarder: FORWARDER_ADDR %q, want :%d", port, forwarderPort))
	}
	return errs
}

func checkForwarderPDB(m *manifests) (errs []error) {
	p, d := m.pdbs["forwarder"], m.deployments["forwarder"]
	if p == nil || d == nil {
		return []error{fmt.Errorf("forwarder needs a Deployment and a PodDisruptionBudget")}
	}
	for k, v := range p.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			errs = append(errs, fmt.Errorf("PodDisruptionBudget forwarder selects %s=%s, which its pods do not carry", k, v))
		}
	}
	if len(p.Spec.Selector.MatchLabels) == 0 || p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
		errs = append(errs, fmt.Errorf("PodDisruptionBudget forwarder: want maxUnavailable 1 over the forwarder's pods"))
	}
	return errs
}

func checkForwarderKEDA(m *manifests) (errs []error) {
	so, d := m.scaledObjects["forwarder"], m.deployments["forwarder"]
	if so == nil || d == nil {
		return []error{fmt.Errorf("forwarder needs a Deployment and a ScaledObject")}
	}
	if so.Spec.ScaleTargetRef.Name != "forwarder" {
		errs = append(errs, fmt.Errorf("ScaledObject forwarder scales %q", so.Spec.ScaleTargetRef.Name))
	}
	minR, maxR := ptrValue(so.Spec.MinReplicaCount), ptrValue(so.Spec.MaxReplicaCount)
	if minR < 2 || maxR < minR {
		errs = append(errs, fmt.Errorf("ScaledObject forwarder: want 2 <= minReplicaCount %d <= maxReplicaCount %d (one standby at least)", minR, maxR))
	}
	durable := envValue(d.Spec.Template.Spec.Containers[0], "FORWARDER_DURABLE")
	if durable == "" {
		durable = "forwarder"
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
		return append(errs, fmt.Errorf("ScaledObject forwarder: want one nats-jetstream trigger"))
	}
	md := so.Spec.Triggers[0].Metadata
	for k, want := range map[string]string{"stream": "COMMS_RESOLVED", "consumer": durable, "account": "$G"} {
		if md[k] != want {
			errs = append(errs, fmt.Errorf("ScaledObject forwarder: %s %q, want %q", k, md[k], want))
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
		errs = append(errs, fmt.Errorf("ScaledObject forwarder: lagThreshold %q", md["lagThreshold"]))
	}
	// KEDA runs in its own namespace: the endpoint names the overlay's.
	if want := fmt.Sprintf("%s.%s.svc.cluster.local:%d", m.statefulSets["nats"].Spec.ServiceName, m.overlay.namespace, natsHTTPPort); md["natsServerMonitoringEndpoint"] != want {
		errs = append(errs, fmt.Errorf("ScaledObject forwarder: natsServerMonitoringEndpoint %q, want %q", md["natsServerMonitoringEndpoint"], want))
	}
	return errs
}

// containerPortNamed returns the container port called name, or 0.
func containerPortNamed(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}
