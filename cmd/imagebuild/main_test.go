package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const testVersion = "v9.8.7-test"

// TestImages builds every image as `go run ./cmd/imagebuild` does, loads
// each tarball back and checks what a cluster relies on: the names and tags,
// the config (entrypoint, user 65532, labels with the version), the files
// (no shell, nothing but the base files and /app), and that /app is a static
// binary that answers -version and -h.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ingest and resolver binaries")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	dir := t.TempDir()
	caFile, caPEM := testCA(t, dir)
	t.Setenv("SOURCE_DATE_EPOCH", "1764547200") // 2025-12-01T00:00:00Z
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-version", testVersion, "-out", filepath.Join(dir, "images"),
		"-ca", caFile, "-revision", "0123abc"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("imagebuild: %v\n%s", err, stderr.String())
	}
	t.Logf("imagebuild:\n%s", stdout.String())
	created := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			file := filepath.Join(dir, "images", tg.name+".tar")
			line := lineOf(t, stdout.String(), tg.name)

			t.Run("tags", func(t *testing.T) {
				want := []string{"commsops/" + tg.name + ":" + testVersion, "commsops/" + tg.name + ":latest"}
				got := repoTags(t, file)
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("RepoTags %q, want %q", got, want)
				}
			})

			img := load(t, file, "commsops/"+tg.name+":"+testVersion)
			t.Run("digest", func(t *testing.T) {
				d, err := img.Digest()
				if err != nil || !strings.Contains(line, d.String()) {
					t.Fatalf("loaded digest %v (%v) not the printed one: %q", d, err, line)
				}
				latest := load(t, file, "commsops/"+tg.name+":latest")
				if dl, _ := latest.Digest(); dl != d {
					t.Fatalf(":latest is %v, :%s %v", dl, testVersion, d)
				}
			})

			t.Run("config", func(t *testing.T) {
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				c := cf.Config
				checks := []struct {
					what string
					ok   bool
				}{
					{"entrypoint /app", slices.Equal(c.Entrypoint, []string{"/app"}) && len(c.Cmd) == 0},
					{"user 65532:65532", c.User == "65532:65532"},
					{"linux/" + hostArch, cf.OS == "linux" && cf.Architecture == hostArch},
					{"created from SOURCE_DATE_EPOCH", cf.Created.Time.Equal(created)},
					{"label version", c.Labels["org.opencontainers.image.version"] == testVersion},
					{"label title", c.Labels["org.opencontainers.image.title"] == "commsops-"+tg.name},
					{"label source", c.Labels["org.opencontainers.image.source"] == "https://github.com/commsops/commsops"},
					{"label revision", c.Labels["org.opencontainers.image.revision"] == "0123abc"},
					{"label created", c.Labels["org.opencontainers.image.created"] == "2025-12-01T00:00:00Z"},
					{"label description", c.Labels["org.opencontainers.image.description"] != ""},
					{"exposed ports", len(c.ExposedPorts) == len(tg.ports)},
					{"two layers", len(cf.RootFS.DiffIDs) == 2},
				}
				for _, p := range tg.ports {
					_, ok := c.ExposedPorts[itoa(p)+"/tcp"]
					checks = append(checks, struct {
						what string
						ok   bool
					}{"exposes " + itoa(p), ok})
				}
				for _, ch := range checks {
					if !ch.ok {
						t.Errorf("%s: not so; config %+v", ch.what, c)
					}
				}
			})

			files := extract(t, img)
			t.Run("files", func(t *testing.T) {
				want := []string{"app", "etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/",
					"etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "tmp/"}
				var got []string
				for n := range files {
					got = append(got, n)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("files %q, want exactly %q", got, want)
				}
			})
			t.Run("no shell", func(t *testing.T) {
				shells := []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox", "toybox"}
				for n, f := range files {
					if slices.Contains(shells, path.Base(strings.TrimSuffix(n, "/"))) || strings.HasPrefix(n, "bin/") || strings.HasPrefix(n, "usr/") {
						t.Errorf("%s in the image", n)
					}
					if f.hdr.Typeflag == tar.TypeSymlink || f.hdr.Typeflag == tar.TypeLink {
						t.Errorf("%s: a link (to %s)", n, f.hdr.Linkname)
					}
				}
			})
			t.Run("nonroot user and CA bundle", func(t *testing.T) {
				if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:[^:]*:/home/nonroot:/sbin/nologin$`).Match(files["etc/passwd"].body) {
					t.Errorf("/etc/passwd has no nonroot 65532:\n%s", files["etc/passwd"].body)
				}
				if !regexp.MustCompile(`(?m)^nonroot:x:65532:`).Match(files["etc/group"].body) {
					t.Errorf("/etc/group has no nonroot 65532:\n%s", files["etc/group"].body)
				}
				if h := files["home/nonroot/"].hdr; h.Uid != 65532 || h.Gid != 65532 {
					t.Errorf("/home/nonroot owned by %d:%d", h.Uid, h.Gid)
				}
				if h := files["tmp/"].hdr; h.Mode != 0o1777 {
					t.Errorf("/tmp mode %o", h.Mode)
				}
				if !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"].body, caPEM) {
					t.Error("the CA bundle is not the one given with -ca")
				}
				for n, f := range files {
					if !f.hdr.ModTime.Equal(created) {
						t.Errorf("%s: mtime %v, want SOURCE_DATE_EPOCH", n, f.hdr.ModTime)
					}
				}
			})

			bin := filepath.Join(dir, tg.name)
			if err := os.WriteFile(bin, files["app"].body, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Run("static binary", func(t *testing.T) {
				if h := files["app"].hdr; h.Mode != 0o755 || h.Uid != 0 {
					t.Errorf("/app mode %o uid %d, want 755 root-owned (not writable by 65532)", h.Mode, h.Uid)
				}
				f, err := elf.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP {
						t.Error("has an ELF interpreter: not static")
					}
				}
				if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
					t.Errorf("links %q", libs)
				}
			})
			for _, tc := range []struct {
				arg  string
				want []string
			}{
				{"-version", []string{tg.name + " " + testVersion + "\n"}},
				{"-h", []string{tg.name + ": configured by environment variables", "-version", "NATS_URL"}},
			} {
				t.Run("runs "+tc.arg, func(t *testing.T) {
					cmd := exec.Command(bin, tc.arg)
					cmd.Env = []string{"HOME=/nonexistent"}
					out, err := cmd.Output()
					if err != nil {
						t.Fatalf("%s %s: %v\n%s", tg.name, tc.arg, err, out)
					}
					for _, w := range tc.want {
						if !strings.Contains(string(out), w) {
							t.Errorf("%s %s printed %q, want %q in it", tg.name, tc.arg, out, w)
						}
					}
				})
			}
		})
	}
}

// TestTargetsMatchManifests: the images built are exactly the commsops
// images that deploy/k8s/base runs.
func TestTargetsMatchManifests(t *testing.T) {
	yamls, err := filepath.Glob(filepath.Join("..", "..", "deploy", "k8s", "base", "*.yaml"))
	if err != nil || len(yamls) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:-\s*)?(?:image|name):\s*"?commsops/([a-z0-9-]+)`)
	var used []string
	for _, y := range yamls {
		b, err := os.ReadFile(y)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			if n := string(m[1]); !slices.Contains(used, n) {
				used = append(used, n)
			}
		}
	}
	slices.Sort(used)
	built := names()
	slices.Sort(built)
	if len(used) == 0 || !slices.Equal(used, built) {
		t.Fatalf("deploy/k8s/base uses commsops/%q, imagebuild builds commsops/%q", used, built)
	}
}

// TestImageReproducible: the same binary and metadata give the same image
// digest; the version and the binary each change it.
func TestImageReproducible(t *testing.T) {
	m := meta{version: "v1.0.0", source: "https://example.invalid/x", arch: "amd64", created: time.Unix(1764547200, 0)}
	digest := func(bin string, m meta) v1.Hash {
		t.Helper()
		base, err := layer(baseEntries([]byte("-----BEGIN CERTIFICATE-----\n")), m.created)
		if err != nil {
			t.Fatal(err)
		}
		img, err := image(targets[0], base, []byte(bin), m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := digest("binary", m)
	if b := digest("binary", m); a != b {
		t.Fatalf("same input, digests %v and %v", a, b)
	}
	if b := digest("binary!", m); a == b {
		t.Fatal("another binary, same digest")
	}
	m2 := m
	m2.version = "v1.0.1"
	if b := digest("binary", m2); a == b {
		t.Fatal("another version, same digest")
	}
}

// TestFlags: what imagebuild refuses before building anything.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		epoch string
		want  string
	}{
		{[]string{"-version", "v1 beta"}, "", "not usable as an image tag"},
		{[]string{"-version", "-x"}, "", "not usable as an image tag"},
		{[]string{"-version", "a:b"}, "", "not usable as an image tag"},
		{[]string{"-repo", "Commsops"}, "", "-repo"},
		{[]string{"forwarderx"}, "", `unknown image "forwarderx"`},
		{nil, "yesterday", "SOURCE_DATE_EPOCH"},
		{[]string{"-ca", filepath.Join(t.TempDir(), "none.pem")}, "", "CA bundle"},
	} {
		t.Run(strings.Join(tc.args, " ")+tc.epoch, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			err := run(context.Background(), append(tc.args, "-out", t.TempDir()), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("-h", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-h"}, &out, &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "ingest, resolver") {
			t.Fatalf("err %v, usage %q", err, out.String())
		}
	})
}

// testCA writes a self-signed CA certificate as a PEM bundle.
func testCA(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imagebuild test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// lineOf returns imagebuild's output line for the image n.
func lineOf(t *testing.T, out, n string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == n {
			return l
		}
	}
	t.Fatalf("no line for %s in %q", n, out)
	return ""
}

// repoTags returns the RepoTags of the tarball's manifest.json: the names
// docker load gives the image.
func repoTags(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m tarball.Manifest
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 {
			t.Fatalf("%d images in the tarball, want 1", len(m))
		}
		return m[0].RepoTags
	}
}

// load reads the image tagged ref from the tarball, as crane push does.
func load(t *testing.T, file, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		t.Fatalf("load %s: %v", ref, err)
	}
	return img
}

// file is one entry of an image's file system.
type file struct {
	hdr  *tar.Header
	body []byte
}

// extract returns the image's flattened file system by path ("dir/" for a
// directory), failing on a path twice.
func extract(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			n := strings.TrimPrefix(h.Name, "./")
			if h.Typeflag == tar.TypeDir && !strings.HasSuffix(n, "/") {
				n += "/"
			}
			if _, dup := files[n]; dup {
				t.Errorf("%s twice in the layers", n)
			}
			files[n] = file{hdr: h, body: body}
		}
		rc.Close()
	}
	// The flattened view docker would run must agree with the layers.
	flat := tar.NewReader(mutate.Extract(img))
	n := 0
	for {
		if _, err := flat.Next(); err != nil {
			break
		}
		n++
	}
	if n != len(files) {
		t.Errorf("flattened file system has %d entries, the layers %d", n, len(files))
	}
	return files
}

func itoa(i int) string { return strconv.Itoa(i) }
