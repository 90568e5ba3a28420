package deploy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests is one rendered overlay, every object decoded strictly into its
// Kubernetes API type, indexed by its rendered name (generated ConfigMaps and
// Secrets carry kustomize's hash suffix).
type manifests struct {
	overlay       overlaySpec
	namespaces    map[string]*corev1.Namespace
	deployments   map[string]*appsv1.Deployment
	statefulSets  map[string]*appsv1.StatefulSet
	services      map[string]*corev1.Service
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	hpas          map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs          map[string]*policyv1.PodDisruptionBudget
	scaledObjects map[string]*scaledObject
	ingresses     map[string]*networkingv1.Ingress
	// namespaced holds kind/name -> namespace of every namespaced object.
	namespaced map[string]string
}

// apiVersions is every kind an overlay may contain, with the only API
// version accepted for it. Anything else is an error.
var apiVersions = map[string]string{
	"Namespace":               "v1",
	"Service":                 "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"Deployment":              "apps/v1",
	"StatefulSet":             "apps/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget":     "policy/v1",
	"ScaledObject":            "keda.sh/v1alpha1",
	"Ingress":                 "networking.k8s.io/v1",
}

func newManifests(o overlaySpec) *manifests {
	return &manifests{
		overlay:       o,
		namespaces:    map[string]*corev1.Namespace{},
		deployments:   map[string]*appsv1.Deployment{},
		statefulSets:  map[string]*appsv1.StatefulSet{},
		services:      map[string]*corev1.Service{},
		configMaps:    map[string]*corev1.ConfigMap{},
		secrets:       map[string]*corev1.Secret{},
		hpas:          map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:          map[string]*policyv1.PodDisruptionBudget{},
		scaledObjects: map[string]*scaledObject{},
		ingresses:     map[string]*networkingv1.Ingress{},
		namespaced:    map[string]string{},
	}
}

// render runs kustomize (the same code kubectl apply -k uses) on an overlay
// and decodes the result.
func render(t testing.TB, o overlaySpec) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), "k8s/overlays/"+o.name)
	if err != nil {
		t.Fatalf("kustomize build k8s/overlays/%s: %v", o.name, err)
	}
	m := newManifests(o)
	var errs []error
	for _, res := range rm.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s %s: %v", res.GetKind(), res.GetName(), err)
		}
		if err := m.add(data); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("k8s/overlays/%s does not decode strictly:\n%v", o.name, err)
	}
	return m
}

// decodeYAML decodes a multi-document YAML stream the way render decodes
// kustomize's output; the tests of the decoder use it.
func decodeYAML(o overlaySpec, stream string) (*manifests, error) {
	m := newManifests(o)
	for _, doc := range strings.Split(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		data, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, err
		}
		if err := m.add(data); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// add decodes one object strictly: unknown or duplicate fields, a value of the
// wrong type, a kind not in apiVersions or another API version are errors.
func (m *manifests) add(data []byte) error {
	var tm metav1.TypeMeta
	if err := json.UnmarshalCaseSensitivePreserveInts(data, &tm); err != nil {
		return err
	}
	want, ok := apiVersions[tm.Kind]
	if !ok {
		return fmt.Errorf("unexpected kind %q (%s)", tm.Kind, tm.APIVersion)
	}
	if tm.APIVersion != want {
		return fmt.Errorf("%s has apiVersion %q, want %q", tm.Kind, tm.APIVersion, want)
	}
	var meta *metav1.ObjectMeta
	var err error
	switch tm.Kind {
	case "Namespace":
		var o *corev1.Namespace
		if o, err = decodeStrict[corev1.Namespace](data); err == nil {
			meta, m.namespaces[o.Name] = &o.ObjectMeta, o
		}
	case "Service":
		var o *corev1.Service
		if o, err = decodeStrict[corev1.Service](data); err == nil {
			meta, m.services[o.Name] = &o.ObjectMeta, o
		}
	case "ConfigMap":
		var o *corev1.ConfigMap
		if o, err = decodeStrict[corev1.ConfigMap](data); err == nil {
			meta, m.configMaps[o.Name] = &o.ObjectMeta, o
		}
	case "Secret":
		var o *corev1.Secret
		if o, err = decodeStrict[corev1.Secret](data); err == nil {
			meta, m.secrets[o.Name] = &o.ObjectMeta, o
		}
	case "Deployment":
		var o *appsv1.Deployment
		if o, err = decodeStrict[appsv1.Deployment](data); err == nil {
			meta, m.deployments[o.Name] = &o.ObjectMeta, o
		}
	case "StatefulSet":
		var o *appsv1.StatefulSet
		if o, err = decodeStrict[appsv1.StatefulSet](data); err == nil {
			meta, m.statefulSets[o.Name] = &o.ObjectMeta, o
		}
	case "HorizontalPodAutoscaler":
		var o *autoscalingv2.HorizontalPodAutoscaler
		if o, err = decodeStrict[autoscalingv2.HorizontalPodAutoscaler](data); err == nil {
			meta, m.hpas[o.Name] = &o.ObjectMeta, o
		}
	case "PodDisruptionBudget":
		var o *policyv1.PodDisruptionBudget
		if o, err = decodeStrict[policyv1.PodDisruptionBudget](data); err == nil {
			meta, m.pdbs[o.Name] = &o.ObjectMeta, o
		}
	case "Ingress":
		var o *networkingv1.Ingress
		if o, err = decodeStrict[networkingv1.Ingress](data); err == nil {
			meta, m.ingresses[o.Name] = &o.ObjectMeta, o
		}
	case "ScaledObject":
		var o *scaledObject
		if o, err = decodeScaledObject(data); err == nil {
			meta, m.scaledObjects[o.Name] = &o.ObjectMeta, o
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if meta.Name == "" {
		return fmt.Errorf("%s without a name", tm.Kind)
	}
	if tm.Kind != "Namespace" {
		m.namespaced[tm.Kind+"/"+meta.Name] = meta.Namespace
	}
	return nil
}

// decodeStrict decodes JSON into T as the API server's strict field
// validation does: case-sensitive, unknown and duplicate fields rejected.
func decodeStrict[T any](data []byte) (*T, error) {
	o := new(T)
	strictErrs, err := json.UnmarshalStrict(data, o)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		return nil, errors.Join(strictErrs...)
	}
	return o, nil
}

// scaledObject mirrors the fields of KEDA's ScaledObject (keda.sh/v1alpha1)
// that a manifest may set, so that strict decoding rejects anything else
// without depending on KEDA's Go module. Trigger metadata values are strings
// in KEDA's API: an unquoted lagThreshold: 100 is rejected here as by KEDA.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Advanced              *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Fallback *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
			MetricType        string            `json:"metricType,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
	// u is the same object as unstructured content, for the checks of
	// required fields by path.
	u *unstructured.Unstructured
}

// natsJetStreamMetadata is the metadata KEDA's nats-jetstream scaler reads.
var natsJetStreamMetadata = map[string]bool{
	"natsServerMonitoringEndpoint": true, "account": true, "stream": true, "consumer": true,
	"lagThreshold": true, "activationLagThreshold": true, "useHttps": true,
}

// decodeScaledObject decodes a ScaledObject strictly into the mirror type,
// checks the trigger metadata keys against the scaler's, and keeps an
// unstructured copy.
func decodeScaledObject(data []byte) (*scaledObject, error) {
	o, err := decodeStrict[scaledObject](data)
	if err != nil {
		return nil, err
	}
	for i, tr := range o.Spec.Triggers {
		if tr.Type != "nats-jetstream" {
			continue
		}
		var unknown []string
		for k := range tr.Metadata {
			if !natsJetStreamMetadata[k] {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("trigger %d: unknown nats-jetstream metadata %v", i, unknown)
		}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	o.u = u
	return o, nil
}
