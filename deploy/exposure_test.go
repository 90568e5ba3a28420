package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// publicRoute is the one path the internet may reach: Graph's callbacks.
const publicRoute = "/v1/notifications"

// checkExposure: only POST /v1/notifications is reachable from outside the
// cluster. Every Service is a plain ClusterIP one (no NodePort, LoadBalancer
// or external IPs), so probes, /metrics and /v1/responses stay inside; an
// overlay with publicIngress has exactly one Ingress, ingest, with TLS for
// its one host and one Exact path, /v1/notifications, to the ingest's
// Service port that reaches its HTTP port, no default backend and no
// annotation that rewrites paths or injects configuration; other overlays
// have none.
func checkExposure(m *manifests) (errs []error) {
	for name, s := range m.services {
		if (s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP) || len(s.Spec.ExternalIPs) > 0 {
			errs = append(errs, fmt.Errorf("Service %s is reachable from outside the cluster (type %q, external IPs %v)", name, s.Spec.Type, s.Spec.ExternalIPs))
		}
	}
	want := []string(nil)
	if m.overlay.publicIngress {
		want = []string{"ingest"}
	}
	if got := keys(m.ingresses); !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("Ingresses %v, want %v", got, want))
	}
	for name, ing := range m.ingresses {
		errs = append(errs, m.checkIngress(name, ing)...)
	}
	return errs
}

func (m *manifests) checkIngress(name string, ing *networkingv1.Ingress) (errs []error) {
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("Ingress "+name+": "+format, a...)) }
	for k := range ing.Annotations {
		if strings.Contains(k, "rewrite") || strings.Contains(k, "snippet") || strings.Contains(k, "use-regex") {
			fail("annotation %s can route other paths than %s", k, publicRoute)
		}
	}
	if ing.Spec.DefaultBackend != nil {
		fail("a default backend routes every other path")
	}
	if len(ing.Spec.Rules) != 1 {
		fail("%d rules, want one", len(ing.Spec.Rules))
		return errs
	}
	rule := ing.Spec.Rules[0]
	if rule.Host == "" || strings.Contains(rule.Host, "*") {
		fail("host %q: want one named host", rule.Host)
	}
	if rule.HTTP == nil || len(rule.HTTP.Paths) != 1 {
		fail("want exactly one path, %s", publicRoute)
		return errs
	}
	p := rule.HTTP.Paths[0]
	if p.Path != publicRoute || p.PathType == nil || *p.PathType != networkingv1.PathTypeExact {
		fail("path %q (type %v): want %s, Exact", p.Path, ptrString(p.PathType), publicRoute)
	}
	if b := p.Backend.Service; b == nil || b.Name != "ingest" || m.ingestPortOf(b.Port) != 8080 {
		fail("backend %+v: want the Service ingest's port that reaches the ingest's HTTP port 8080", p.Backend)
	}
	tls := false
	for _, t := range ing.Spec.TLS {
		if slices.Contains(t.Hosts, rule.Host) && t.SecretName != "" {
			tls = true
		}
	}
	if !tls {
		fail("no TLS (hosts with a secretName) for host %q", rule.Host)
	}
	return errs
}

// ingestPortOf returns the container port that a port of the Service ingest,
// named or numbered as an Ingress backend names it, reaches (0 when none).
func (m *manifests) ingestPortOf(bp networkingv1.ServiceBackendPort) int32 {
	s := m.services["ingest"]
	d := m.deployments["ingest"]
	if s == nil || d == nil {
		return 0
	}
	for _, sp := range s.Spec.Ports {
		if (bp.Name != "" && sp.Name == bp.Name) || (bp.Name == "" && sp.Port == bp.Number) {
			return m.servicePort(s, sp)
		}
	}
	return 0
}

// TestExposureChecksCatch breaks the exposure of the prod overlay one way at
// a time and expects checkExposure to report each.
func TestExposureChecksCatch(t *testing.T) {
	prod := overlays[1]
	if !prod.publicIngress {
		t.Fatal("overlays[1] is not the public prod overlay")
	}
	path := func(m *manifests) *networkingv1.HTTPIngressPath {
		return &m.ingresses["ingest"].Spec.Rules[0].HTTP.Paths[0]
	}
	cases := []struct {
		name   string
		mutate func(m *manifests)
	}{
		{"/metrics routed too", func(m *manifests) {
			r := &m.ingresses["ingest"].Spec.Rules[0]
			extra := *path(m)
			extra.Path = "/metrics"
			r.HTTP.Paths = append(r.HTTP.Paths, extra)
		}},
		{"a Prefix path", func(m *manifests) {
			pt := networkingv1.PathTypePrefix
			path(m).PathType = &pt
		}},
		{"the root path", func(m *manifests) { path(m).Path = "/" }},
		{"/v1/responses instead", func(m *manifests) { path(m).Path = "/v1/responses" }},
		{"no TLS", func(m *manifests) { m.ingresses["ingest"].Spec.TLS = nil }},
		{"TLS for another host", func(m *manifests) { m.ingresses["ingest"].Spec.TLS[0].Hosts = []string{"other.example.com"} }},
		{"a default backend", func(m *manifests) {
			m.ingresses["ingest"].Spec.DefaultBackend = &path(m).Backend
		}},
		{"a rewrite annotation", func(m *manifests) {
			m.ingresses["ingest"].Annotations = map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/metrics"}
		}},
		{"a backend port that is not the ingest's", func(m *manifests) {
			path(m).Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 8222}
		}},
		{"a LoadBalancer Service", func(m *manifests) { m.services["ingest"].Spec.Type = corev1.ServiceTypeLoadBalancer }},
		{"a NodePort Service", func(m *manifests) { m.services["nats"].Spec.Type = corev1.ServiceTypeNodePort }},
		{"external IPs", func(m *manifests) { m.services["ingest"].Spec.ExternalIPs = []string{"203.0.113.7"} }},
		{"no Ingress", func(m *manifests) { delete(m.ingresses, "ingest") }},
		{"a second Ingress", func(m *manifests) {
			other := *m.ingresses["ingest"]
			other.Name = "metrics"
			m.ingresses["metrics"] = &other
		}},
	}
	if errs := checkExposure(render(t, prod)); len(errs) != 0 {
		t.Fatalf("prod as rendered: %v", errs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, prod)
			tc.mutate(m)
			if len(checkExposure(m)) == 0 {
				t.Error("checkExposure did not catch it")
			}
		})
	}
	t.Run("an Ingress in dev", func(t *testing.T) {
		dev := render(t, overlays[0])
		dev.ingresses["ingest"] = render(t, prod).ingresses["ingest"]
		if len(checkExposure(dev)) == 0 {
			t.Error("checkExposure did not catch it")
		}
	})
}
