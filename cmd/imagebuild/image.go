package main

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// meta is what every image is stamped with.
type meta struct {
	version  string    // main.version and org.opencontainers.image.version
	source   string    // org.opencontainers.image.source
	revision string    // org.opencontainers.image.revision (omitted when empty)
	arch     string    // GOARCH of the binary and the image
	created  time.Time // the image's creation time and every file's mtime
}

// image returns t's image: scratch, then the shared base layer, then a layer
// holding bin as /app; entrypoint /app, user 65532:65532, the
// org.opencontainers.image.* labels. It has no shell and no other binary.
func image(t target, base v1.Layer, bin []byte, m meta) (v1.Image, error) {
	app, err := layer([]entry{{name: appPath, mode: 0o755, body: bin}}, m.created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: m.created.UTC()}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "imagebuild: /etc/passwd, /etc/group (nonroot 65532), CA bundle, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "imagebuild: /app from " + t.pkg + " (CGO_ENABLED=0 -trimpath)"}},
	)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", t.name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", t.name, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", m.arch, created
	cf.Author = "commsops imagebuild"
	cf.Config = v1.Config{
		Entrypoint:   []string{"/" + appPath},
		User:         user,
		WorkingDir:   "/",
		Env:          []string{"SSL_CERT_FILE=/" + caPath},
		ExposedPorts: map[string]struct{}{},
		Labels:       labels(t, m),
	}
	for _, p := range t.ports {
		cf.Config.ExposedPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", t.name, err)
	}
	return img, nil
}

// labels returns the org.opencontainers.image.* labels of t's image.
func labels(t target, m meta) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "commsops-" + t.name,
		"org.opencontainers.image.description": t.about,
		"org.opencontainers.image.version":     m.version,
		"org.opencontainers.image.source":      m.source,
		"org.opencontainers.image.created":     m.created.UTC().Format(time.RFC3339),
	}
	if m.revision != "" {
		l["org.opencontainers.image.revision"] = m.revision
	}
	return l
}

// hostArch is the default -arch: the builder's own, so that the binaries
// also run where they were built.
var hostArch = runtime.GOARCH
