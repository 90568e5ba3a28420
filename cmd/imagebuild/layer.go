package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The user every image runs as: distroless's "nonroot", numeric so that
// Kubernetes can verify runAsNonRoot.
const (
	nonrootUID = 65532
	nonrootGID = 65532
	user       = "65532:65532"
)

// caPath is where the CA bundle goes: the first file Go's crypto/x509 reads
// on Linux (and what distroless and Debian use).
const caPath = "etc/ssl/certs/ca-certificates.crt"

// appPath is the binary in every image, as in deploy/Dockerfile.
const appPath = "app"

// entry is one file or directory of a layer.
type entry struct {
	name     string // relative to /, no leading slash; directories end in /
	mode     int64
	uid, gid int
	body     []byte
}

// passwd and group know root and nonroot only; neither has a login shell
// (the image has none).
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// baseEntries returns the files every image shares: /etc/passwd and
// /etc/group, the CA bundle, /tmp (a mount point: the pods' root file system
// is read-only) and the nonroot user's home.
func baseEntries(caPEM []byte) []entry {
	return []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caPath, mode: 0o644, body: caPEM},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, gid: nonrootGID},
		{name: "tmp/", mode: 0o1777},
	}
}

// layer returns a gzip-compressed layer of entries, every one stamped with
// mtime; the same entries and mtime give the same digest.
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: mtime.Truncate(time.Second), Format: tar.FormatUSTAR,
		}
		if e.name[len(e.name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithCompressedCaching)
}
