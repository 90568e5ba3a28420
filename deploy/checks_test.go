package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestChecksCatch breaks one thing at a time in a freshly rendered overlay
// and expects the check responsible for it to report it: the checks are
// not vacuous.
func TestChecksCatch(t *testing.T) {
	ingest := func(m *manifests) *corev1.Container { return &m.deployments["ingest"].Spec.Template.Spec.Containers[0] }
	resolver := func(m *manifests) *corev1.Container {
		return &m.deployments["resolver"].Spec.Template.Spec.Containers[0]
	}
	nats := func(m *manifests) *corev1.Container { return &m.statefulSets["nats"].Spec.Template.Spec.Containers[0] }
	cfg := func(m *manifests) map[string]string {
		c, err := m.config()
		if err != nil {
			panic(err)
		}
		return c.Data
	}
	editNATSConf := func(m *manifests, old, new string) {
		for _, cm := range m.configMaps {
			if conf, ok := cm.Data["nats.conf"]; ok {
				if !strings.Contains(conf, old) {
					panic("nats.conf has no " + old)
				}
				cm.Data["nats.conf"] = strings.Replace(conf, old, new, 1)
			}
		}
	}
	cases := []struct {
		name, overlay, check string
		mutate               func(m *manifests)
	}{
		{"variable outside the contract", "prod", "env", func(m *manifests) {
			c := resolver(m)
			c.Env = append(c.Env, corev1.EnvVar{Name: "RESOLVER_HEARTBEAT", Value: "2s"})
		}},
		{"ConfigMap key outside the contract", "prod", "env", func(m *manifests) { cfg(m)["INGEST_STORE_TIMEOUT"] = "1s" }},
		{"secret in the ConfigMap", "dev", "env", func(m *manifests) { cfg(m)["NATS_PASSWORD"] = "x" }},
		{"envFrom prefix", "prod", "env", func(m *manifests) { ingest(m).EnvFrom[0].Prefix = "X_" }},
		{"no Secret", "prod", "env", func(m *manifests) { ingest(m).EnvFrom = ingest(m).EnvFrom[:1] }},
		{"optional Secret", "prod", "env", func(m *manifests) { ingest(m).EnvFrom[1].SecretRef.Optional = ptr.To(true) }},
		{"worker id not from the pod", "dev", "env", func(m *manifests) { resolver(m).Env[0] = corev1.EnvVar{Name: "RESOLVER_WORKER_ID", Value: "w"} }},
		{"prod generates the Secret", "prod", "env", func(m *manifests) {
			m.secrets[secretName] = &corev1.Secret{Data: map[string][]byte{"NATS_PASSWORD": []byte("x")}}
		}},
		{"duration", "prod", "config values", func(m *manifests) { cfg(m)["RESOLVER_STALL_AFTER"] = "10 minutes" }},
		{"auth mode", "prod", "config values", func(m *manifests) { cfg(m)["INGEST_AUTH"] = "off" }},
		{"NATS_URL with credentials", "prod", "config values", func(m *manifests) { cfg(m)["NATS_URL"] = "nats://u:p@nats:4222" }},
		{"two NATS auth methods", "prod", "config values", func(m *manifests) { cfg(m)["NATS_CREDS"] = "/creds" }},
		{"ingest container port", "prod", "ports", func(m *manifests) { ingest(m).Ports[0].ContainerPort = 9090 }},
		{"INGEST_ADDR", "dev", "ports", func(m *manifests) { cfg(m)["INGEST_ADDR"] = ":9090" }},
		{"INGEST_API_ADDR", "prod", "ports", func(m *manifests) { cfg(m)["INGEST_API_ADDR"] = ":8080" }},
		{"api container port", "prod", "ports", func(m *manifests) { ingest(m).Ports[1].ContainerPort = 9090 }},
		{"operations API exposed", "prod", "ports", func(m *manifests) { m.services["ingest-api"].Spec.Type = corev1.ServiceTypeLoadBalancer }},
		{"resolver port", "prod", "ports", func(m *manifests) { resolver(m).Ports[0].ContainerPort = 8080 }},
		{"Service target", "prod", "ports", func(m *manifests) { m.services["ingest"].Spec.Ports[0].TargetPort = intstr.FromInt32(8081) }},
		{"NATS_URL host", "prod", "ports", func(m *manifests) { cfg(m)["NATS_URL"] = "nats://nats-headless:4222" }},
		{"readiness path", "prod", "probes", func(m *manifests) { ingest(m).ReadinessProbe.HTTPGet.Path = "/healthz" }},
		{"liveness port", "prod", "probes", func(m *manifests) { resolver(m).LivenessProbe.HTTPGet.Port = intstr.FromInt32(8080) }},
		{"startup too short", "prod", "probes", func(m *manifests) { resolver(m).StartupProbe.FailureThreshold = 3 }},
		{"nats liveness", "prod", "probes", func(m *manifests) { nats(m).LivenessProbe.HTTPGet.Path = "/healthz" }},
		{"metrics port", "prod", "prometheus", func(m *manifests) {
			m.deployments["resolver"].Spec.Template.Annotations["prometheus.io/port"] = "8080"
		}},
		{"grace at the deadline", "prod", "shutdown", func(m *manifests) {
			m.deployments["resolver"].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](20)
		}},
		{"grace without the preStop pause", "prod", "shutdown", func(m *manifests) {
			m.deployments["ingest"].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](25)
		}},
		{"longer deadline", "dev", "shutdown", func(m *manifests) { cfg(m)["COMMSOPS_SHUTDOWN_TIMEOUT"] = "45s" }},
		{"nats grace", "prod", "shutdown", func(m *manifests) {
			m.statefulSets["nats"].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
		}},
		{"writable root", "prod", "security", func(m *manifests) { ingest(m).SecurityContext.ReadOnlyRootFilesystem = ptr.To(false) }},
		{"privilege escalation", "prod", "security", func(m *manifests) { nats(m).SecurityContext.AllowPrivilegeEscalation = nil }},
		{"capability", "prod", "security", func(m *manifests) { resolver(m).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} }},
		{"root", "prod", "security", func(m *manifests) {
			m.deployments["ingest"].Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}},
		{"seccomp", "prod", "security", func(m *manifests) {
			m.statefulSets["nats"].Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		}},
		{"service links", "prod", "security", func(m *manifests) {
			m.deployments["resolver"].Spec.Template.Spec.EnableServiceLinks = nil
		}},
		{"init container without limits", "prod", "resources", func(m *manifests) {
			spec := &m.deployments["resolver"].Spec.Template.Spec
			spec.InitContainers = append(spec.InitContainers, *resolver(m).DeepCopy())
			spec.InitContainers[0].Resources.Limits = nil
		}},
		{"request over limit", "prod", "resources", func(m *manifests) {
			ingest(m).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("4Gi")
		}},
		{"GOMEMLIMIT over the limit", "prod", "resources", func(m *manifests) { setEnv(nats(m), "GOMEMLIMIT", "9GiB") }},
		{"GOGC off without GOMEMLIMIT", "prod", "resources", func(m *manifests) {
			c := resolver(m)
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
		}},
		{"GOMEMLIMIT without headroom", "dev", "resources", func(m *manifests) {
			setEnv(ingest(m), "GOMEMLIMIT", "500MiB")
			ingest(m).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("512Mi") // only the headroom is wrong
		}},
		{"GOGC off with a small GOMEMLIMIT", "prod", "resources", func(m *manifests) {
			setEnv(resolver(m), "GOMEMLIMIT", "256MiB")
		}},
		{"GOGC off above the memory request", "prod", "resources", func(m *manifests) {
			ingest(m).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("128Mi")
		}},
		{"file store over the volume", "dev", "resources", func(m *manifests) {
			m.statefulSets["nats"].Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
		}},
		{"PDB minAvailable", "prod", "selectors", func(m *manifests) {
			m.pdbs["ingest"].Spec.MaxUnavailable, m.pdbs["ingest"].Spec.MinAvailable = nil, ptr.To(intstr.FromInt32(1))
		}},
		{"Service selects nothing", "prod", "selectors", func(m *manifests) {
			m.services["nats"].Spec.Selector = map[string]string{"app": "nats"}
		}},
		{"PDB of another workload", "dev", "selectors", func(m *manifests) {
			m.pdbs["resolver"].Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "ingest"}
		}},
		{"HPA and KEDA on one Deployment", "prod", "selectors", func(m *manifests) {
			m.hpas["ingest"].Spec.ScaleTargetRef.Name = "resolver"
		}},
		{"unknown volume", "prod", "selectors", func(m *manifests) {
			ingest(m).VolumeMounts = append(ingest(m).VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: "/cache"})
		}},
		{"two nodes", "prod", "nats", func(m *manifests) { m.statefulSets["nats"].Spec.Replicas = ptr.To[int32](2) }},
		{"R3 on one node", "prod", "nats", func(m *manifests) {
			m.statefulSets["nats"].Spec.Replicas = ptr.To[int32](1)
			editNATSConf(m, "nats://nats-1.nats-headless:6222\n", "")
			editNATSConf(m, "nats://nats-2.nats-headless:6222\n", "")
		}},
		{"route missing", "prod", "nats", func(m *manifests) { editNATSConf(m, "nats://nats-2.nats-headless:6222", "") }},
		{"route through the client Service", "dev", "nats", func(m *manifests) {
			editNATSConf(m, "nats://nats-2.nats-headless:6222", "nats://nats:6222")
		}},
		{"undefined variable", "prod", "nats", func(m *manifests) { editNATSConf(m, "max_file_store: $JS_MAX_FILE_STORE", "max_file_store: $JS_FILE") }},
		{"store off the volume", "prod", "nats", func(m *manifests) { editNATSConf(m, "store_dir: /data/jetstream", "store_dir: /tmp/js") }},
		{"server name", "prod", "nats", func(m *manifests) { editNATSConf(m, "server_name: $POD_NAME", "server_name: nats") }},
		{"old image", "prod", "nats", func(m *manifests) { nats(m).Image = "nats:2.10-alpine" }},
		{"not the official image", "prod", "nats", func(m *manifests) { nats(m).Image = "example.com/nats:latest" }},
		{"headless Service", "prod", "nats", func(m *manifests) { m.statefulSets["nats"].Spec.ServiceName = "nats" }},
		{"no lame duck", "prod", "nats", func(m *manifests) { nats(m).Lifecycle = nil }},
		{"prod spread", "prod", "nats", func(m *manifests) {
			m.statefulSets["nats"].Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
		}},
		{"HPA minimum above replicas", "prod", "ingest autoscaling", func(m *manifests) { m.hpas["ingest"].Spec.MinReplicas = ptr.To[int32](5) }},
		{"HPA on memory", "prod", "ingest autoscaling", func(m *manifests) {
			m.hpas["ingest"].Spec.Metrics[0].Resource.Name = corev1.ResourceMemory
		}},
		{"more workers than partitions", "prod", "resolver autoscaling", func(m *manifests) {
			_ = unstructuredSet(m.scaledObjects["resolver"].u.Object, int64(32), "spec", "maxReplicaCount")
		}},
		{"KEDA endpoint of another namespace", "dev", "resolver autoscaling", func(m *manifests) {
			setTriggerMeta(m, "natsServerMonitoringEndpoint", "nats-headless.commsops.svc.cluster.local:8222")
		}},
		{"KEDA stream", "prod", "resolver autoscaling", func(m *manifests) { setTriggerMeta(m, "stream", "COMMS_RESOLVED") }},
		{"KEDA consumer", "prod", "resolver autoscaling", func(m *manifests) { setTriggerMeta(m, "consumer", "resolver") }},
		{"KEDA threshold", "prod", "resolver autoscaling", func(m *manifests) { setTriggerMeta(m, "lagThreshold", "0") }},
		{"prod replicas", "prod", "overlay", func(m *manifests) { cfg(m)["COMMSOPS_REPLICAS"] = "1" }},
		{"prod without Graph auth", "prod", "overlay", func(m *manifests) { cfg(m)["INGEST_AUTH"] = "none" }},
		{"dev replicas", "dev", "overlay", func(m *manifests) { cfg(m)["COMMSOPS_REPLICAS"] = "3" }},
		{"namespace", "prod", "objects", func(m *manifests) { m.namespaced["Service/ingest"] = "default" }},
		{"missing PDB", "prod", "objects", func(m *manifests) { delete(m.pdbs, "resolver") }},
		{"prod owns its namespace", "prod", "objects", func(m *manifests) { m.namespaces["commsops"] = &corev1.Namespace{} }},
		{"dev namespace not restricted", "dev", "objects", func(m *manifests) { m.namespaces["commsops-dev"].Labels = nil }},
	}
	byName := map[string]check{}
	for _, c := range checks {
		byName[c.name] = c
	}
	specs := map[string]overlaySpec{}
	for _, o := range overlays {
		specs[o.name] = o
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			c, ok := byName[tc.check]
			if !ok {
				t.Fatalf("no check %q", tc.check)
			}
			m := render(t, specs[tc.overlay])
			if errs := c.fn(m); len(errs) > 0 {
				t.Fatalf("the %s overlay fails %q before the change: %v", tc.overlay, tc.check, errs)
			}
			tc.mutate(m)
			errs := c.fn(m)
			if len(errs) == 0 {
				t.Fatalf("check %q did not notice", tc.check)
			}
			t.Logf("reported: %v", errs[0])
		})
	}
}

func setTriggerMeta(m *manifests, key, value string) {
	triggers := m.scaledObjects["resolver"].u.Object["spec"].(map[string]any)["triggers"].([]any)
	triggers[0].(map[string]any)["metadata"].(map[string]any)[key] = value
}

func unstructuredSet(obj map[string]any, value any, path ...string) error {
	for _, p := range path[:len(path)-1] {
		obj = obj[p].(map[string]any)
	}
	obj[path[len(path)-1]] = value
	return nil
}

// TestDecodeRejects: the strict decoder refuses what the API server (or
// KEDA) would refuse or silently drop.
func TestDecodeRejects(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ingest
spec:
  selector:
    matchLabels: {app: ingest}
  template:
    metadata:
      labels: {app: ingest}
    spec:
      containers:
        - name: ingest
          image: commsops/ingest
          ports:
            - containerPort: 8080
`
	const scaled = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: resolver
spec:
  scaleTargetRef: {name: resolver}
  minReplicaCount: 1
  triggers:
    - type: nats-jetstream
      metadata:
        natsServerMonitoringEndpoint: nats-headless.commsops.svc.cluster.local:8222
        account: $G
        stream: COMMS_IN
        consumer: resolver-0
        lagThreshold: "100"
`
	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"valid Deployment", deployment, true},
		{"valid ScaledObject", scaled, true},
		{"unknown field", strings.Replace(deployment, "containers:", "contianers:", 1), false},
		{"field of the wrong case", strings.Replace(deployment, "containerPort:", "containerport:", 1), false},
		{"value of the wrong type", strings.Replace(deployment, "containerPort: 8080", `containerPort: "8080"`, 1), false},
		{"duplicate field", strings.Replace(deployment, "  selector:", "  replicas: 1\n  replicas: 2\n  selector:", 1), false},
		{"another API version", strings.Replace(deployment, "apps/v1", "extensions/v1beta1", 1), false},
		{"unknown kind", strings.Replace(deployment, "kind: Deployment", "kind: Ingress", 1), false},
		{"KEDA unknown field", strings.Replace(scaled, "minReplicaCount", "minReplicas", 1), false},
		{"KEDA number where KEDA wants a string", strings.Replace(scaled, `lagThreshold: "100"`, "lagThreshold: 100", 1), false},
		{"KEDA misspelt scaler metadata", strings.Replace(scaled, "lagThreshold", "lagTreshold", 1), false},
		{"KEDA status", scaled + "status:\n  health: {}\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeYAML(overlays[1], tc.doc)
			if tc.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted")
			}
			if err != nil {
				t.Logf("rejected: %v", err)
			}
		})
	}
	// The decoded objects are the typed API objects.
	m, err := decodeYAML(overlays[1], deployment)
	if err != nil {
		t.Fatal(err)
	}
	var _ *appsv1.Deployment = m.deployments["ingest"]
	if got := m.deployments["ingest"].Spec.Template.Spec.Containers[0].Ports[0].ContainerPort; got != 8080 {
		t.Fatalf("containerPort %d", got)
	}
}

// setEnv sets the value of c's variable name, which must exist.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	panic(c.Name + " has no variable " + name)
}
