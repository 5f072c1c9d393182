package imageref

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in         string
		kind       Kind
		dir, tag   string
		digest     string
		wantString string
	}{
		{in: "oci-layout://base", kind: Layout, dir: "/site/base", wantString: "oci-layout:///site/base"},
		{in: "oci-layout:///abs/dir:v1", kind: Layout, dir: "/abs/dir", tag: "v1"},
		{in: "oci-layout://../x@sha256:" + strings.Repeat("a", 64), kind: Layout, dir: "/x", digest: "sha256:" + strings.Repeat("a", 64)},
		{in: "127.0.0.1:5000/app:1", kind: Registry, wantString: "127.0.0.1:5000/app:1"},
		{in: "./img.tar", kind: DockerArchive, wantString: "/site/img.tar"},
	}
	for _, c := range cases {
		r, err := Parse(c.in, "/site")
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if r.Kind != c.kind || (c.dir != "" && r.Dir != c.dir) || r.Tag != c.tag || r.Digest != c.digest {
			t.Errorf("Parse(%q) = %+v", c.in, r)
		}
		if c.wantString != "" && r.String() != c.wantString {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, r.String(), c.wantString)
		}
	}
	for _, bad := range []string{"", "oci-layout://", "oci-layout://d@sha256:zz", "UPPER/Case:tag"} {
		if _, err := Parse(bad, "/site"); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestResolveRegistryLayoutArchive(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tag, _ := name.NewTag(host + "/base:1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	idxTag, _ := name.NewTag(host + "/base:multi")
	if err := remote.WriteIndex(idxTag, idx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	p, err := layout.Write(filepath.Join(dir, "lay"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: "v1"})); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "img.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}

	for _, s := range []string{host + "/base:1", "oci-layout://lay:v1", "oci-layout://lay", "oci-layout://lay@" + want.String(), "img.tar"} {
		r, err := Parse(s, dir)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Resolve(ctx)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", s, err)
		}
		if res.Image == nil || res.Index != nil {
			t.Fatalf("Resolve(%s): want a single image, got %+v", s, res)
		}
		if s != "img.tar" && res.Digest != want {
			t.Errorf("Resolve(%s) = %s, want %s", s, res.Digest, want)
		}
	}

	r, _ := Parse(host+"/base:multi", dir)
	res, err := r.Resolve(ctx)
	if err != nil || res.Index == nil {
		t.Fatalf("index: %v %+v", err, res)
	}
	pinned := r.Pinned(res.Digest.String())
	if !strings.Contains(pinned.String(), "@"+res.Digest.String()) {
		t.Errorf("Pinned = %s", pinned)
	}
	if res2, err := pinned.Resolve(ctx); err != nil || res2.Digest != res.Digest {
		t.Errorf("pinned resolve: %v", err)
	}

	for s, msg := range map[string]string{
		"oci-layout://lay:nope":                              `tag "nope" is not in the layout (tags: v1)`,
		"oci-layout://missing":                               "no OCI layout",
		host + "/base:absent":                                "MANIFEST_UNKNOWN",
		"oci-layout://lay@sha256:" + strings.Repeat("0", 64): "not in the layout",
	} {
		r, _ := Parse(s, dir)
		if _, err := r.Resolve(ctx); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Resolve(%s) error = %v, want it to contain %q", s, err, msg)
		}
	}
}

// A layout holding an image and its referrers (graft's SBOM and provenance) names the image
// without a tag; two images still need one.
func TestLayoutReferrersAreNotImages(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{"application/spdx+json", "application/vnd.in-toto+json"} {
		h, _ := v1.NewHash("sha256:" + strings.Repeat(string(rune('a'+i)), 64))
		if err := p.AppendDescriptor(v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: h, Size: 1, ArtifactType: typ}); err != nil {
			t.Fatal(err)
		}
	}
	ref, _ := Parse(LayoutScheme+dir, "/")
	res, err := ref.Resolve(context.Background())
	if err != nil || res.Digest != want {
		t.Fatalf("resolved %v, %v; want the image %s", res, err, want)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Resolve(context.Background()); err == nil || !strings.Contains(err.Error(), "holds 2 images") {
		t.Fatalf("two images without a tag: %v", err)
	}
}
