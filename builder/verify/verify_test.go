package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/verify"
)

// site is a locked site with two plugins on a single-platform OCI base.
func site(t *testing.T) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"README.md": "alpha"}, "")
	s.Plugin("beta", map[string]string{"lib/beta.rb": "puts 1"}, "")
	s.Lock()
	return s
}

func buildOpts(t *testing.T) []builder.Option {
	return []builder.Option{builder.WithCache(fetch.NewCache(t.TempDir())), builder.WithLaunchers(buildtest.Launchers(t, "amd64"))}
}

func plan(t *testing.T, s *buildtest.Site, opts ...builder.Option) *builder.Plan {
	t.Helper()
	pl, err := builder.Resolve(context.Background(), s.Load(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func build(t *testing.T, pl *builder.Plan, opts ...builder.Option) *contract.Result {
	t.Helper()
	res, err := pl.Build(context.Background(), append(buildOpts(t), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func check(t *testing.T, pl *builder.Plan, subj verify.Subject, opts ...verify.Option) *verify.Report {
	t.Helper()
	r, err := verify.Image(context.Background(), pl, subj, append([]verify.Option{verify.WithBuildOptions(buildOpts(t)...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func subject(t *testing.T, img v1.Image) verify.Subject {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return verify.Subject{Name: "img", Digest: d, Image: img}
}

func lines(r *verify.Report) string {
	var b strings.Builder
	r.Print(&b)
	return b.String()
}

// wantOne asserts exactly one difference, containing want.
func wantOne(t *testing.T, r *verify.Report, want string) {
	t.Helper()
	if len(r.Differences) != 1 || !strings.Contains(r.Differences[0].String(), want) {
		t.Errorf("want one difference with %q, got:\n%s", want, lines(r))
	}
}

func TestVerifiesWhatThePlanBuilds(t *testing.T) {
	s := site(t)
	pl := plan(t, s)
	res := build(t, pl)
	r := check(t, pl, subject(t, res.Image))
	if !r.Verified() || r.Digest != res.Digest || r.Built != res.Digest {
		t.Fatalf("the image the plan builds is not verified:\n%s", lines(r))
	}
	if out := lines(r); out != "img is exactly what graft.lock builds ("+res.Digest.String()+")\n" {
		t.Errorf("report: %q", out)
	}
}

// core rewrites an image's manifest, config or blobs while keeping every other part: what a
// hostile or broken store can serve under the same descriptors.
type core struct {
	img      v1.Image
	manifest []byte
	config   []byte
	blobs    map[v1.Hash][]byte // replaced layer bytes by the digest that names them
}

func (c *core) RawConfigFile() ([]byte, error) { return c.config, nil }
func (c *core) MediaType() (types.MediaType, error) {
	m, err := v1.ParseManifest(bytes.NewReader(c.manifest))
	if err != nil {
		return "", err
	}
	return m.MediaType, nil
}
func (c *core) RawManifest() ([]byte, error) { return c.manifest, nil }
func (c *core) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := c.blobs[h]; ok {
		return &fakeBlob{digest: h, data: b}, nil
	}
	return c.img.LayerByDigest(h)
}

// fakeBlob claims digest while serving data.
type fakeBlob struct {
	digest v1.Hash
	data   []byte
}

func (b *fakeBlob) Digest() (v1.Hash, error) { return b.digest, nil }
func (b *fakeBlob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.data)), nil
}
func (b *fakeBlob) Size() (int64, error)                { return int64(len(b.data)), nil }
func (b *fakeBlob) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// tamper is img with its manifest and config edited (nil: kept) and blobs replaced.
func tamper(t *testing.T, img v1.Image, editManifest func(*v1.Manifest), editConfig func(*v1.ConfigFile), blobs map[v1.Hash][]byte) v1.Image {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m = m.DeepCopy()
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if editConfig != nil {
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		editConfig(cf)
		cfg, _ = json.Marshal(cf)
		m.Config.Digest, m.Config.Size, _ = v1.SHA256(bytes.NewReader(cfg))
	}
	if editManifest != nil {
		editManifest(m)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := partial.CompressedToImage(&core{img: img, manifest: raw, config: cfg, blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManifestFieldsAreDifferences(t *testing.T) {
	s := site(t)
	pl := plan(t, s)
	res := build(t, pl)
	sub := &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: res.Digest, Size: 1}
	cases := []struct {
		name string
		edit func(*v1.Manifest)
		want string
	}{
		{"annotation", func(m *v1.Manifest) { m.Annotations["x"] = "y" }, `manifest annotation x: image has "y", should be none`},
		{"layer urls", func(m *v1.Manifest) { m.Layers[2].URLs = []string{"https://evil.example/b"} }, "layer 2 (plugin beta"},
		{"non-distributable", func(m *v1.Manifest) { m.Layers[1].MediaType = types.OCIRestrictedLayer }, "media type: image has " + string(types.OCIRestrictedLayer)},
		{"subject", func(m *v1.Manifest) { m.Subject = sub }, "manifest subject: image has " + string(types.OCIManifestSchema1)},
		{"config size", func(m *v1.Manifest) { m.Config.Size++ }, "config descriptor size"},
		{"artifact type", func(m *v1.Manifest) { m.ArtifactType = "application/x" }, "manifest artifact type"},
	}
	for _, c := range cases {
		img := tamper(t, res.Image, c.edit, nil, nil)
		r := check(t, pl, subject(t, img))
		wantOne(t, r, c.want)
		if d, _ := img.Digest(); r.Digest != d || r.Built != res.Digest {
			t.Errorf("%s: report names %s (built %s), want the examined %s", c.name, r.Digest, r.Built, d)
		}
	}
}

func TestBlobBytesAreHashed(t *testing.T) {
	s := site(t)
	pl := plan(t, s)
	res := build(t, pl)
	m, _ := res.Image.Manifest()
	other := static.NewLayer([]byte("not the plugin"), types.OCILayer)
	otherBytes, _ := io.ReadAll(must(other.Compressed()))

	// A layer's blob replaced under the same descriptor (what skopeo and umoci refuse).
	img := tamper(t, res.Image, nil, nil, map[v1.Hash][]byte{m.Layers[2].Digest: otherBytes})
	wantOne(t, check(t, pl, subject(t, img)), "layer 2: blob "+m.Layers[2].Digest.String())
	// The base's layer too: verify relies on it as much as on graft's.
	img = tamper(t, res.Image, nil, nil, map[v1.Hash][]byte{m.Layers[0].Digest: otherBytes})
	wantOne(t, check(t, pl, subject(t, img)), "layer 0: blob")

	// The config replaced under the same descriptor.
	raw, _ := res.Image.RawManifest()
	cfg, _ := res.Image.RawConfigFile()
	bad, err := partial.CompressedToImage(&core{img: res.Image, manifest: raw, config: bytes.Replace(cfg, []byte(`"Cmd"`), []byte(`"cmd"`), 1)})
	if err != nil {
		t.Fatal(err)
	}
	sub := subject(t, bad)
	wantOne(t, check(t, pl, sub), "config blob "+m.Config.Digest.String()+" holds other bytes")

	// The manifest replaced under its digest: the place names res.Digest, the bytes are others.
	annotated := mutate.Annotations(res.Image, map[string]string{"x": "y"}).(v1.Image)
	r := check(t, pl, verify.Subject{Name: "img", Digest: res.Digest, Image: annotated})
	if r.Verified() || !strings.Contains(lines(r), "manifest blob "+res.Digest.String()+" holds other bytes") {
		t.Errorf("a manifest with other bytes under its digest:\n%s", lines(r))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLayersAddedOrMissing(t *testing.T) {
	s := site(t)
	pl := plan(t, s)
	res := build(t, pl)
	extra, err := mutate.AppendLayers(res.Image, static.NewLayer([]byte("x"), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	r := check(t, pl, subject(t, extra))
	if r.Verified() || !strings.Contains(lines(r), "layer 5 (sha256:") || !strings.Contains(lines(r), "is not built from graft.lock") {
		t.Errorf("an extra layer:\n%s", lines(r))
	}
	missing := tamper(t, res.Image, func(m *v1.Manifest) { m.Layers = m.Layers[:len(m.Layers)-1] },
		func(cf *v1.ConfigFile) { cf.RootFS.DiffIDs = cf.RootFS.DiffIDs[:len(cf.RootFS.DiffIDs)-1] }, nil)
	r = check(t, pl, subject(t, missing))
	if out := lines(r); r.Verified() || !strings.Contains(out, "layer 4 missing: should be") ||
		!strings.Contains(out, "/etc/graft/launcher.toml merged from graft.toml and the plugins") {
		t.Errorf("a missing layer:\n%s", out)
	}
}

func TestSwappedPluginLayerIsNamed(t *testing.T) {
	s := site(t)
	pl := plan(t, s)
	res := build(t, pl)
	beta := pl.Project().PluginLock("beta")
	s.Plugin("beta", map[string]string{"lib/beta.rb": "evil"}, "")
	s.Lock()
	evil := build(t, plan(t, s))
	layers, _ := evil.Image.Layers()
	img := tamper(t, res.Image, func(m *v1.Manifest) {
		m.Layers[2].Digest, _ = layers[2].Digest()
		m.Layers[2].Size, _ = layers[2].Size()
	}, func(cf *v1.ConfigFile) { cf.RootFS.DiffIDs[2], _ = layers[2].DiffID() }, nil)
	img = withLayer(t, img, layers[2])
	r := check(t, pl, subject(t, img))
	if len(r.Differences) != 1 || !strings.Contains(r.Differences[0].String(), "platform linux/amd64: layer 2 differs") ||
		!strings.Contains(r.Differences[0].String(), "plugin beta at commit "+beta.Commit) {
		t.Errorf("want one line naming layer 2 and the locked plugin beta at %s, got:\n%s", beta.Commit, lines(r))
	}
}

// withLayer serves l's bytes from img too.
func withLayer(t *testing.T, img v1.Image, l v1.Layer) v1.Image {
	t.Helper()
	d, _ := l.Digest()
	b, err := io.ReadAll(must(l.Compressed()))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	out, err := partial.CompressedToImage(&core{img: img, manifest: raw, config: cfg, blobs: map[v1.Hash][]byte{d: b}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeLayout(t *testing.T, dir string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}

func TestNewerBaseIsSummarised(t *testing.T) {
	s := site(t)
	old := build(t, plan(t, s))
	// A security rebuild of the base under the same name, then `graft lock`.
	img := buildtest.BaseImage(t, "linux/amd64", "", types.OCIManifestSchema1)
	img = mutate.Annotations(img, map[string]string{"rebuilt": "yes"}).(v1.Image)
	writeLayout(t, filepath.Join(s.Dir, "base"), img)
	s.Lock()
	pl := plan(t, s)
	r := check(t, pl, subject(t, old.Image))
	out := lines(r)
	newDigest, _ := img.Digest()
	if r.Verified() || r.Base == nil || r.Base.Lock != newDigest.String() ||
		!strings.Contains(out, "base differs: img was built on oci-layout://base@") || !strings.Contains(out, "graft.lock has "+newDigest.String()) {
		t.Errorf("verify against a lock with a newer base:\n%s", out)
	}
}

func TestStepsWithoutBuildKitAreNotRecomputed(t *testing.T) {
	s := site(t)
	s.Plugin("gamma", map[string]string{"x": "y"}, "[build]\nrun = [\"make\"]")
	s.Lock()
	pl := plan(t, s)
	res := build(t, pl, builder.WithStepRunner(copySteps{}))
	r := check(t, pl, subject(t, res.Image))
	if len(r.Differences) != 0 || len(r.NotRecomputed) != 1 ||
		!strings.Contains(r.NotRecomputed[0].String(), "layer 3 (plugin gamma) not recomputed: its [build] steps need BuildKit") {
		t.Errorf("a build-step plugin without BuildKit:\n%s", lines(r))
	}
	// With a step runner, it is recomputed and verified.
	if r := check(t, pl, subject(t, res.Image), verify.WithStepRunner(copySteps{})); !r.Verified() {
		t.Errorf("with a step runner:\n%s", lines(r))
	}
}

// copySteps stands in for BuildKit: the plugin's files as its layer.
type copySteps struct{}

func (copySteps) RunSteps(_ context.Context, r contract.StepRequest) (v1.Layer, error) {
	return tarball.LayerFromOpener(r.PluginTar, tarball.WithMediaType(r.MediaType))
}

func TestSourceDateEpochIsRecognised(t *testing.T) {
	s := site(t)
	epoch := time.Unix(1700000000, 0).UTC()
	res := build(t, plan(t, s, builder.WithSourceDateEpoch(epoch)))
	r := check(t, plan(t, s), subject(t, res.Image))
	if !r.Verified() {
		t.Errorf("an image built with SOURCE_DATE_EPOCH:\n%s", lines(r))
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64", "linux/arm64")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	s.Lock()
	pl := plan(t, s)
	opts := []builder.Option{builder.WithCache(fetch.NewCache(t.TempDir())), builder.WithLaunchers(buildtest.Launchers(t, "amd64", "arm64"))}
	res, err := pl.Build(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	vopts := verify.WithBuildOptions(opts...)
	r, err := verify.Image(context.Background(), pl, verify.Subject{Name: "idx", Digest: res.Digest, Index: res.Index}, vopts)
	if err != nil || !r.Verified() || r.Digest != res.Digest {
		t.Fatalf("the index: %v\n%s", err, lines(r))
	}
	// An annotation on the index alone.
	idx := mutate.Annotations(res.Index, map[string]string{"x": "y"}).(v1.ImageIndex)
	d, _ := idx.Digest()
	r, err = verify.Image(context.Background(), pl, verify.Subject{Name: "idx", Digest: d, Index: idx}, vopts)
	if err != nil {
		t.Fatal(err)
	}
	wantOne(t, r, "index annotation x")
	// One platform's image alone (what a docker tar of a multi-platform build holds).
	arm, err := res.PlatformImage("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	r, err = verify.Image(context.Background(), pl, subject(t, arm), vopts)
	if err != nil || !r.Verified() {
		t.Fatalf("one platform of the index: %v\n%s", err, lines(r))
	}
}
