package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is one overlay, decoded strictly.
type rendered struct {
	deployments  map[string]*appsv1.Deployment
	statefulsets map[string]*appsv1.StatefulSet
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	services     map[string]*corev1.Service
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	scaled       []map[string]any
}

func render(t *testing.T, overlay string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), "k8s/overlays/"+overlay)
	if err != nil {
		t.Fatalf("kustomize %s: %v", overlay, err)
	}
	r := &rendered{deployments: map[string]*appsv1.Deployment{}, statefulsets: map[string]*appsv1.StatefulSet{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		strict := func(into any) {
			if err := yaml.UnmarshalStrict(b, into); err != nil {
				t.Fatalf("%s %s/%s does not decode strictly: %v", overlay, res.GetKind(), res.GetName(), err)
			}
		}
		switch res.GetKind() {
		case "Deployment":
			o := &appsv1.Deployment{}
			strict(o)
			r.deployments[o.Name] = o
		case "StatefulSet":
			o := &appsv1.StatefulSet{}
			strict(o)
			r.statefulsets[o.Name] = o
		case "ConfigMap":
			o := &corev1.ConfigMap{}
			strict(o)
			r.configMaps[o.Name] = o
		case "Secret":
			o := &corev1.Secret{}
			strict(o)
			r.secrets[o.Name] = o
		case "Service":
			o := &corev1.Service{}
			strict(o)
			r.services[o.Name] = o
		case "HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			strict(o)
			r.hpas[o.Name] = o
		case "PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			strict(o)
			r.pdbs[o.Name] = o
		case "ScaledObject":
			var o map[string]any
			strict(&o)
			r.scaled = append(r.scaled, o)
		default:
			t.Fatalf("%s: unexpected kind %s", overlay, res.GetKind())
		}
	}
	return r
}

// contractVariables reads the variable names of the README's configuration table.
func contractVariables(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(first, -1) {
			vars[m[1]] = true
		}
	}
	if !vars["NATS_URL"] || !vars["INGEST_AUTH"] || !vars["RESOLVER_STALL_AFTER"] {
		t.Fatalf("README configuration table not found: %v", vars)
	}
	return vars
}

func TestOverlays(t *testing.T) {
	vars := contractVariables(t)
	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			r := render(t, overlay)
			cfg := r.configMaps["commsops-config"]
			if cfg == nil {
				t.Fatal("no commsops-config ConfigMap")
			}
			for name := range cfg.Data {
				if !vars[name] {
					t.Errorf("ConfigMap sets %s, which is not a documented variable", name)
				}
			}
			if s := r.secrets["commsops-secrets"]; s != nil {
				for name := range s.Data {
					if !vars[name] {
						t.Errorf("Secret sets %s, which is not a documented variable", name)
					}
				}
			}
			shutdown, err := time.ParseDuration(cfg.Data["COMMSOPS_SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("COMMSOPS_SHUTDOWN_TIMEOUT: %v", err)
			}
			for name, port := range map[string]int32{"ingest": 8080, "resolver": 8081} {
				d := r.deployments[name]
				if d == nil {
					t.Fatalf("no %s Deployment", name)
				}
				spec := d.Spec.Template.Spec
				if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
					t.Errorf("%s: terminationGracePeriodSeconds must exceed the %v shutdown deadline", name, shutdown)
				}
				if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
					t.Errorf("%s: pod must run as non-root", name)
				}
				c := spec.Containers[0]
				if len(c.Ports) == 0 || c.Ports[0].ContainerPort != port {
					t.Errorf("%s: container port %v, want %d", name, c.Ports, port)
				}
				if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
					t.Errorf("%s: probes must be /healthz and /readyz", name)
				}
				checkContainer(t, name, c)
				for _, e := range c.Env {
					if !vars[e.Name] {
						t.Errorf("%s sets %s, which is not a documented variable", name, e.Name)
					}
				}
				if r.pdbs[name] == nil {
					t.Errorf("%s has no PodDisruptionBudget", name)
				}
			}
			if r.hpas["ingest"] == nil || r.services["ingest"] == nil {
				t.Error("ingest needs a Service and an HPA")
			}
			nats := r.statefulsets["nats"]
			if nats == nil || *nats.Spec.Replicas != 3 || len(nats.Spec.VolumeClaimTemplates) == 0 {
				t.Fatal("NATS must be a 3-node StatefulSet with persistent volumes")
			}
			for _, c := range nats.Spec.Template.Spec.Containers {
				checkContainer(t, "nats", c)
			}
			if s := r.services["nats"]; s == nil || s.Spec.Ports[0].Port != 4222 || !strings.HasSuffix(cfg.Data["NATS_URL"], ":4222") {
				t.Error("NATS client service and NATS_URL must use port 4222")
			}
			if len(r.scaled) != 1 || fmt.Sprint(r.scaled[0]["spec"]) == "" || !strings.Contains(fmt.Sprint(r.scaled[0]), "COMMS_IN") ||
				!strings.Contains(fmt.Sprint(r.scaled[0]), "nats-jetstream") || !strings.Contains(fmt.Sprint(r.scaled[0]), "resolver") {
				t.Errorf("the resolver must scale on COMMS_IN lag with KEDA's nats-jetstream scaler: %v", r.scaled)
			}
			switch overlay {
			case "prod":
				if cfg.Data["COMMSOPS_REPLICAS"] != "3" || cfg.Data["INGEST_AUTH"] != "graph" {
					t.Errorf("prod: replicas %q auth %q", cfg.Data["COMMSOPS_REPLICAS"], cfg.Data["INGEST_AUTH"])
				}
				if *r.deployments["resolver"].Spec.Replicas < 2 {
					t.Error("prod runs several resolvers")
				}
			case "dev":
				if cfg.Data["INGEST_AUTH"] != "none" {
					t.Error("dev runs without Graph auth")
				}
			}
		})
	}
}

func checkContainer(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: requests and limits of CPU and memory are required", name)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: read-only root, no privilege escalation, all capabilities dropped", name)
	}
}
