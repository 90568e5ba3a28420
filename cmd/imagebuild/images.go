package main

// target is one image: a binary that runs in a pod.
type target struct {
	name  string // image name under -repo, and the binary's name
	pkg   string // import path of its main package
	ports []int  // ports it listens on (the image's ExposedPorts)
	about string // org.opencontainers.image.description
}

// targets are the images imagebuild builds, one per binary that runs in a
// pod; their names are those of deploy/k8s/base (TestTargetsMatchManifests).
// A new binary is one line here.
var targets = []target{
	{"ingest", "github.com/commsops/commsops/cmd/ingest", []int{8080}, "commsops ingest: Graph notification callbacks and bot responses into JetStream"},
	{"resolver", "github.com/commsops/commsops/cmd/resolver", []int{8081}, "commsops resolver: ordered per-call state machine from COMMS_IN to COMMS_RESOLVED"},
	{"forwarder", "github.com/commsops/commsops/cmd/forwarder", []int{8083}, "commsops forwarder: COMMS_RESOLVED to an HTTP sink as CloudEvents, in order per clientContext"},
}
