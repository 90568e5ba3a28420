// Command imagebuild builds the container image of every commsops binary
// that runs in a pod (ingest, resolver) without a container engine: it
// compiles each one statically and writes a docker-archive tarball per image
// with go-containerregistry, for `docker load` or `crane push`.
//
//	go run ./cmd/imagebuild -version "$(git describe --tags --always)" [-out dist/images] [name...]
//
// Each image is scratch plus a base layer (/etc/passwd and /etc/group with
// the nonroot user 65532, the CA bundle read from -ca at build time, /tmp)
// and the binary as /app: entrypoint /app, user 65532:65532, no shell. Its
// tags are <repo>/<name>:<version> and <repo>/<name>:latest, the names that
// deploy/k8s/base uses. deploy/Dockerfile builds the same images with Docker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

// options are imagebuild's flags.
type options struct {
	meta
	out   string
	repo  string
	ca    string
	names []string
}

// built is one image written.
type built struct {
	target
	path   string
	size   int64
	digest v1.Hash
	tags   []name.Tag
}

// run parses the command line and builds the images it names (all without
// names), printing one line per image to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := build(ctx, o)
	if err != nil {
		return err
	}
	for _, b := range res {
		tags := make([]string, len(b.tags))
		for i, t := range b.tags {
			tags[i] = t.String()
		}
		fmt.Fprintf(stdout, "%-9s %s  %.1f MiB  %s  %s\n", b.name, b.path, float64(b.size)/(1<<20), b.digest, strings.Join(tags, " "))
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.version, "version", "dev", "the version: stamped into main.version, the image tag and label")
	fs.StringVar(&o.out, "out", filepath.Join("dist", "images"), "directory for the tarballs <name>.tar")
	fs.StringVar(&o.repo, "repo", "commsops", "repository prefix of the image names (<repo>/<name>:<version>)")
	fs.StringVar(&o.ca, "ca", "/"+caPath, "PEM CA bundle to put at /"+caPath)
	fs.StringVar(&o.source, "source", "https://github.com/commsops/commsops", "org.opencontainers.image.source")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision (e.g. $(git rev-parse HEAD))")
	fs.StringVar(&o.arch, "arch", hostArch, "GOARCH of the binaries and images (linux only)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: imagebuild [flags] [name...]\n\nBuilds the images %s (all by default) as docker-archive tarballs.\nSOURCE_DATE_EPOCH (seconds) sets their creation time; the default is 1970-01-01.\n\nflags:\n", strings.Join(names(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.names = fs.Args()
	for _, n := range o.names {
		if !slices.Contains(names(), n) {
			return o, fmt.Errorf("unknown image %q: the images are %s", n, strings.Join(names(), ", "))
		}
	}
	if !tagPattern.MatchString(o.version) {
		return o, fmt.Errorf("-version %q: not usable as an image tag ([A-Za-z0-9_.-], at most 128, not starting with . or -)", o.version)
	}
	if _, err := name.NewRepository(o.repo + "/" + targets[0].name); err != nil {
		return o, fmt.Errorf("-repo %q: %w", o.repo, err)
	}
	o.created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return o, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds", s)
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	return o, nil
}

// tagPattern is what the OCI distribution spec allows as a tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// names returns the names of every target.
func names() []string {
	n := make([]string, len(targets))
	for i, t := range targets {
		n[i] = t.name
	}
	return n
}

// build compiles and writes the images o names, each to o.out/<name>.tar.
func build(ctx context.Context, o options) ([]built, error) {
	caPEM, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w (give one with -ca)", err)
	}
	if !strings.Contains(string(caPEM), "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", o.ca)
	}
	base, err := layer(baseEntries(caPEM), o.created)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, fmt.Errorf("out: %w", err)
	}
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var res []built
	for _, t := range targets {
		if len(o.names) > 0 && !slices.Contains(o.names, t.name) {
			continue
		}
		bin, err := goBuild(ctx, t.pkg, o.arch, o.version, tmp)
		if err != nil {
			return nil, err
		}
		b, err := write(t, base, bin, o)
		if err != nil {
			return nil, err
		}
		res = append(res, b)
	}
	return res, nil
}

// write assembles t's image around bin and writes it, tagged with the
// version and latest, to o.out/<name>.tar.
func write(t target, base v1.Layer, bin []byte, o options) (built, error) {
	img, err := image(t, base, bin, o.meta)
	if err != nil {
		return built{}, err
	}
	b := built{target: t, path: filepath.Join(o.out, t.name+".tar")}
	refs := map[name.Reference]v1.Image{}
	for _, tag := range []string{o.version, "latest"} {
		ref, err := name.NewTag(o.repo + "/" + t.name + ":" + tag)
		if err != nil {
			return built{}, fmt.Errorf("image %s: %w", t.name, err)
		}
		if _, dup := refs[ref]; !dup {
			refs[ref] = img
			b.tags = append(b.tags, ref)
		}
	}
	if err := tarball.MultiRefWriteToFile(b.path, refs); err != nil {
		return built{}, fmt.Errorf("image %s: write %s: %w", t.name, b.path, err)
	}
	if b.digest, err = img.Digest(); err != nil {
		return built{}, fmt.Errorf("image %s: %w", t.name, err)
	}
	fi, err := os.Stat(b.path)
	if err != nil {
		return built{}, err
	}
	b.size = fi.Size()
	return b, nil
}
