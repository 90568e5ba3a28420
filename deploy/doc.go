// Package deploy holds commsops' deployment: the Dockerfile, the kustomize
// base and overlays under k8s/, the Grafana dashboard, and local/run.sh for a
// multi-process cluster on one machine (see README.md).
//
// It is its own Go module so that the binaries never depend on Kubernetes
// libraries. Its tests render the overlays with kustomize's Go API, decode
// every object strictly into the Kubernetes API types and check them against
// commsops' contract: cd deploy && go vet ./... && go test -race ./...
package deploy
