// Package deploy holds commsops' deployment: deploy/Dockerfile, the kustomize
// base and overlays in deploy/k8s, the Grafana dashboard, and deploy/local for
// a multi-process cluster on one machine. It is its own Go module so that the
// binaries never depend on Kubernetes libraries; its tests render the overlays
// and check them against the Kubernetes API types and commsops' contract.
package deploy
