package imageref_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/usererr"
)

// image is a small single-platform image, as graft builds them.
func image(t *testing.T) v1.Image {
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func write(t *testing.T, spec string, a publish.Artifact) {
	t.Helper()
	p, err := publish.Parse(spec, publish.Options{DefaultName: "registry.test/lib/app:v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(context.Background(), a, io.Discard); err != nil {
		t.Fatal(err)
	}
}

// noRegistry fails the test if a registry is contacted.
type noRegistry struct{ t *testing.T }

func (n noRegistry) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("a registry was contacted: %s %s", r.Method, r.URL)
	return nil, errors.New("no registry in this test")
}

// TestResolveForms is the one table of IMAGE forms: every way to name an image, what it
// resolves to, and how each way of naming nothing is reported.
func TestResolveForms(t *testing.T) {
	ctx := context.Background()
	img := image(t)
	want, _ := img.Digest()
	id, _ := img.ConfigName()
	atts := []publish.Attachment{{ArtifactType: "application/spdx+json", Title: "sbom.spdx.json", Data: []byte("{}")}}
	dir := t.TempDir()
	write(t, "type=oci,dest="+filepath.Join(dir, "lay"), publish.Artifact{Image: img, Attachments: atts})
	write(t, "type=oci,dest="+filepath.Join(dir, "plain"), publish.Artifact{Image: img})
	write(t, "type=oci,dest="+filepath.Join(dir, "img.tar"), publish.Artifact{Image: img, Attachments: atts})
	write(t, "type=docker,dest="+filepath.Join(dir, "docker.tar"), publish.Artifact{Image: img})
	two, err := layout.Write(filepath.Join(dir, "two"), mustIndex(t, filepath.Join(dir, "plain")))
	if err != nil {
		t.Fatal(err)
	}
	if err := two.AppendImage(image(t)); err != nil {
		t.Fatal(err)
	}
	host := registrytest.GGCR(t, true)
	write(t, "type=registry,name="+host+"/lib/app:v1", publish.Artifact{Image: img})
	// What `crane push out/image REF` pushes: the layout's one entry, the index wrapping the
	// image and its attachments.
	top := mustIndex(t, filepath.Join(dir, "lay"))
	m, _ := top.IndexManifest()
	wrapper, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	wtag, _ := name.NewTag(host + "/lib/wrapped:v1")
	if err := remote.WriteIndex(wtag, wrapper); err != nil {
		t.Fatal(err)
	}

	D := want.String()
	zero := "sha256:" + strings.Repeat("0", 64)
	cases := []struct {
		in     string
		digest string // the digest it resolves to; "" when an error is wanted
		err    string // part of the error
	}{
		{in: host + "/lib/app:v1", digest: D},
		{in: "docker://" + host + "/lib/app:v1", digest: D},
		{in: host + "/lib/app@" + D, digest: D},
		{in: host + "/lib/wrapped:v1", digest: D},
		{in: "oci-layout://lay", digest: D},
		{in: "oci-layout://lay:v1", digest: D},
		{in: "oci-layout://lay@" + D, digest: D},
		{in: "lay", digest: D},
		{in: "./lay", digest: D},
		{in: "lay:v1", digest: D},
		{in: "lay@" + D, digest: D},
		{in: "plain", digest: D},
		{in: "img.tar", digest: D},
		{in: "./img.tar:v1", digest: D},
		{in: "img.tar@" + D, digest: D},
		{in: "docker.tar", digest: "config " + id.String()},
		{in: "two:v1", digest: D},
		{in: "two", err: "the layout holds 2 images; name one with :tag or @digest"},
		{in: "./nope", err: "image ./nope: no such file or folder"},
		{in: "nope.tar", err: "image nope.tar: no such file or folder"},
		{in: "lay:nope", err: `tag "nope" is not in the layout (tags: v1)`},
		{in: "lay@" + zero, err: "digest " + zero + " is not in the layout"},
		{in: "img.tar@" + zero, err: "is not in the layout"},
		{in: "oci-layout://missing", err: "no such folder"},
		{in: "oci-layout://" + filepath.Join(dir, "lay", "blobs"), err: "is not an OCI layout (index.json missing)"},
		{in: host + "/lib/app:absent", err: "MANIFEST_UNKNOWN"},
		{in: "", err: "empty image reference"},
		{in: "oci-layout://", err: "no folder after oci-layout://"},
		{in: "lay@sha256:zz", err: `bad digest "sha256:zz"`},
		{in: "UPPER/Case:tag", err: "could not parse reference"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := resolve(ctx, c.in, dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error = %v, want one containing %q", err, c.err)
				}
				if !usererr.Is(err) && !errors.Is(err, imageref.ErrNotFound) {
					t.Errorf("error %v is neither bad input nor not found (exit 2 for an IMAGE argument)", err)
				}
				if !strings.HasSuffix(err.Error(), imageref.Forms) {
					t.Errorf("error %q does not end with the forms IMAGE takes", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.digest {
				t.Errorf("resolved %s, want %s", got, c.digest)
			}
		})
	}
}

func mustIndex(t *testing.T, dir string) v1.ImageIndex {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// resolve gives the digest s resolves to ("config ID" for a docker tar, whose manifest digest
// is made up on reading).
func resolve(ctx context.Context, s, dir string) (string, error) {
	r, err := imageref.Parse(s, dir)
	if err != nil {
		return "", err
	}
	res, err := r.Resolve(ctx)
	if err != nil {
		return "", err
	}
	if r.Kind == imageref.DockerArchive {
		id, err := res.Image.ConfigName()
		return "config " + id.String(), err
	}
	if res.Image != nil {
		if _, err := res.Image.ConfigFile(); err != nil {
			return "", err
		}
		if d, _ := res.Image.Digest(); d != res.Digest {
			return "", errors.New("the image read is not the one resolved")
		}
	}
	return res.Digest.String(), nil
}

// A short name is never sent to a registry: without a Docker Engine to hold it, it is bad
// input naming what to write instead.
func TestShortNameNeverReachesARegistry(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	for _, s := range []string{"app:v1", "out/image", "library/ubuntu@sha256:" + strings.Repeat("a", 64)} {
		r, err := imageref.Parse(s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Resolve(context.Background(), imageref.WithRemoteOptions(remote.WithTransport(noRegistry{t})))
		if err == nil || !errors.Is(err, imageref.ErrNotFound) || !strings.Contains(err.Error(), "graft reads a registry only for a name with its registry host") {
			t.Errorf("%s: %v", s, err)
		}
	}
	// graft.toml's base reads a short name as Docker Hub's, as FROM does.
	r, err := imageref.Parse("ubuntu:22.04", "/", imageref.ShortNamesAreRemote())
	if err != nil || r.Kind != imageref.Registry || r.Name.Context().RegistryStr() != name.DefaultRegistry {
		t.Errorf("base ubuntu:22.04 = %+v, %v", r, err)
	}
}

// An image `graft build --output type=daemon` loaded is read from the Docker Engine, by
// docker-daemon:NAME and by its plain name; an image the engine does not hold is bad input.
func TestResolveFromDockerEngine(t *testing.T) {
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	img := image(t)
	id, _ := img.ConfigName()
	tagName := "graft-imageref-test:" + id.Hex[:12]
	tag, _ := name.NewTag(tagName)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tagName).Run() })
	if _, err := daemon.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"docker-daemon:" + tagName, tagName} {
		r, err := imageref.Parse(s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Resolve(context.Background(), imageref.WithRemoteOptions(remote.WithTransport(noRegistry{t})))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if res.Digest != id {
			t.Errorf("%s: digest %s, want the image ID %s", s, res.Digest, id)
		}
		cf, err := res.Image.ConfigFile()
		if err != nil || cf.Architecture != "amd64" {
			t.Errorf("%s: config %v, %v", s, cf, err)
		}
	}
	r, _ := imageref.Parse("docker-daemon:graft-imageref-test:absent", "/")
	if _, err := r.Resolve(context.Background()); err == nil || !errors.Is(err, imageref.ErrNotFound) || !strings.Contains(err.Error(), "the Docker Engine does not hold it") {
		t.Errorf("absent image: %v", err)
	}
}
