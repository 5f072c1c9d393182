package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
)

// checkSBOM asserts doc is the SPDX document of the image digest.
func checkSBOM(t *testing.T, doc, digest string) {
	t.Helper()
	var d struct {
		SPDXVersion string `json:"spdxVersion"`
		Namespace   string `json:"documentNamespace"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("graft sbom printed no JSON: %v\n%s", err, doc)
	}
	want := attest.NamespacePrefix + strings.Replace(digest, ":", "-", 1)
	if d.SPDXVersion != "SPDX-2.3" || d.Namespace != want {
		t.Errorf("sbom version %q namespace %q, want %s", d.SPDXVersion, d.Namespace, want)
	}
	names := map[string]bool{}
	for _, p := range d.Packages {
		names[p.Name] = true
	}
	if !names["alpha"] || !names["beta"] || !names["graft-launcher"] {
		t.Errorf("sbom packages %v lack the plugins or the launcher", names)
	}
}

func checkProvenance(t *testing.T, doc, digest string) {
	t.Helper()
	var st attest.Statement
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		t.Fatalf("graft sbom --provenance printed no JSON: %v\n%s", err, doc)
	}
	if st.PredicateType != attest.SLSAProvenance || "sha256:"+st.Subject[0].Digest["sha256"] != digest {
		t.Errorf("statement %+v, want subject %s", st, digest)
	}
}

func TestBuildAttachesToRegistries(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	for _, tc := range []struct {
		name      string
		host      string
		referrers bool
	}{
		{"distribution (no referrers API)", registrytest.Distribution(t), false},
		{"ggcr with referrers API", registrytest.GGCR(t, true), true},
		{"ggcr without referrers API", registrytest.GGCR(t, false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.host + "/lib/app:v1"
			code, out, errOut := graft(t, "build", "-C", s.Dir, "--progress", "plain", "--output", "type=registry,name="+ref)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			digest := lastLine(out)
			// The image is the same with and without attestations.
			code, out, errOut = graft(t, "build", "-C", s.Dir, "--sbom=false", "--provenance=false", "--output", "type=registry,name="+tc.host+"/lib/bare:v1")
			if code != 0 || lastLine(out) != digest {
				t.Fatalf("--sbom=false --provenance=false: exit %d digest %s, want %s: %s", code, lastLine(out), digest, errOut)
			}
			code, sbom, errOut := graft(t, "sbom", ref)
			if code != 0 {
				t.Fatalf("graft sbom: exit %d: %s", code, errOut)
			}
			checkSBOM(t, sbom, digest)
			code, prov, errOut := graft(t, "sbom", "--provenance", tc.host+"/lib/app@"+digest)
			if code != 0 {
				t.Fatalf("graft sbom --provenance: exit %d: %s", code, errOut)
			}
			checkProvenance(t, prov, digest)
			repo, _ := name.NewRepository(tc.host + "/lib/app")
			h, _ := v1.NewHash(digest)
			fallback := "sha256-" + h.Hex
			for _, tag := range []string{fallback, fallback + ".sbom", fallback + ".att"} {
				_, err := remote.Head(repo.Tag(tag))
				if tc.referrers && err == nil {
					t.Errorf("tag %s made on a registry with the referrers API", tag)
				}
				if !tc.referrers && err != nil {
					t.Errorf("tag %s missing on a registry without the referrers API: %v", tag, err)
				}
			}
			// Nothing is attached to the bare image.
			if code, _, errOut := graft(t, "sbom", tc.host+"/lib/bare:v1"); code != 1 || !strings.Contains(errOut, "no application/spdx+json is attached") {
				t.Errorf("graft sbom of an image without SBOM: exit %d: %s", code, errOut)
			}
		})
	}
}

func TestBuildAttachesToLayout(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	code, out, errOut := graft(t, "build", "-C", s.Dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	dir := filepath.Join(s.Dir, "out/image")
	refs := checkLayoutShape(t, dir, digest)
	// The image is still the layout's only image for graft (inspect, sbom) without a tag.
	if code, _, errOut := graft(t, "inspect", "oci-layout://"+dir); code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	code, sbom, errOut := graft(t, "sbom", "oci-layout://"+dir)
	if code != 0 {
		t.Fatalf("sbom: exit %d: %s", code, errOut)
	}
	checkSBOM(t, sbom, digest)
	code, prov, errOut := graft(t, "sbom", "--provenance", "oci-layout://"+dir+":latest")
	if code != 0 {
		t.Fatalf("sbom --provenance: exit %d: %s", code, errOut)
	}
	checkProvenance(t, prov, digest)
	// The OCI tar is the same layout, byte for byte, so it carries the attachments too.
	ociTar := filepath.Join(s.Dir, "out/image.oci.tar")
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--output", "type=oci,dest="+ociTar, "--progress", "quiet"); code != 0 {
		t.Fatalf("OCI tar: exit %d: %s", code, errOut)
	}
	sameFiles(t, dir, ociTar)
	if code, out, errOut := graft(t, "verify", "-C", s.Dir, ociTar); code != 0 {
		t.Errorf("verify of the OCI tar, read where it is: exit %d: %s%s", code, out, errOut)
	}
	if code, sbom, errOut := graft(t, "sbom", ociTar); code != 0 {
		t.Errorf("sbom of the OCI tar: exit %d: %s", code, errOut)
	} else {
		checkSBOM(t, sbom, digest)
	}
	// Opting out of one keeps the other and the same image.
	code, out, errOut = graft(t, "build", "-C", s.Dir, "--sbom=false", "--output", "type=oci,dest=out/nosbom", "--output", "type=docker,dest=out/image.tar")
	if code != 0 || lastLine(out) != digest {
		t.Fatalf("--sbom=false: exit %d digest %s want %s: %s", code, lastLine(out), digest, errOut)
	}
	if code, _, errOut := graft(t, "sbom", "oci-layout://"+filepath.Join(s.Dir, "out/nosbom")); code != 1 || !strings.Contains(errOut, "no application/spdx+json is attached") {
		t.Errorf("sbom with --sbom=false: exit %d: %s", code, errOut)
	}
	if code, _, _ := graft(t, "sbom", "--provenance", "oci-layout://"+filepath.Join(s.Dir, "out/nosbom")); code != 0 {
		t.Errorf("provenance missing with --sbom=false")
	}
	// A docker tar cannot hold referrers: say so (exit 1).
	code, _, errOut = graft(t, "sbom", filepath.Join(s.Dir, "out/image.tar"))
	if code != 1 || !strings.Contains(errOut, "is a docker tar, which holds no attached documents") {
		t.Errorf("sbom of a tar: exit %d: %s", code, errOut)
	}
	// The layout packed in a tar (as docker save of Docker 25+ writes one) is read too.
	packed := filepath.Join(t.TempDir(), "layout.tar")
	if out, err := exec.Command("tar", "-cf", packed, "-C", dir, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	code, fromTar, errOut := graft(t, "sbom", packed)
	if code != 0 || fromTar != sbom {
		t.Errorf("sbom of a tarred layout: exit %d (same document: %v): %s", code, fromTar == sbom, errOut)
	}
	if code, _, errOut := graft(t, "sbom", filepath.Join(t.TempDir(), "missing.tar")); code != 2 {
		t.Errorf("sbom of a missing tar: exit %d: %s", code, errOut)
	}
	// A tampered SBOM is refused, not printed.
	for _, d := range refs {
		if d.ArtifactType != attest.SBOMMediaType {
			continue
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "blobs/sha256", d.Digest.Hex))
		var am v1.Manifest
		if err := json.Unmarshal(raw, &am); err != nil {
			t.Fatal(err)
		}
		blob := filepath.Join(dir, "blobs/sha256", am.Layers[0].Digest.Hex)
		if err := os.WriteFile(blob, []byte(`{"spdxVersion":"SPDX-2.3","forged":true}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := graft(t, "sbom", "oci-layout://"+dir); code != 1 || strings.Contains(out, "forged") || !strings.Contains(errOut, "tampered") {
		t.Errorf("tampered sbom: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// checkLayoutShape: index.json has one entry (crane push DIR and skopeo oci:DIR need that),
// named by its tag and its full name; it is the index wrapping the image (with its platform,
// which syft needs) and the SBOM and provenance referrers of the image.
func checkLayoutShape(t *testing.T, dir, digest string) []v1.Descriptor {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want 1: %+v", len(m.Manifests), m.Manifests)
	}
	e := m.Manifests[0]
	if e.Annotations[imageref.RefNameAnnotation] != "latest" || e.Annotations[imageref.ContainerdNameAnnotation] != "registry.test/lib/app:latest" {
		t.Errorf("index.json entry annotations %v", e.Annotations)
	}
	w, err := top.ImageIndex(e.Digest)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := w.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if wm.Annotations[imageref.ImageAnnotation] != digest || len(wm.Manifests) != 3 {
		t.Fatalf("wrapper %+v, want the image %s and two referrers", wm, digest)
	}
	img := wm.Manifests[0]
	if img.Digest.String() != digest || img.Platform == nil || img.Platform.OS != "linux" || img.Platform.Architecture == "" {
		t.Errorf("image entry %+v, want %s with its platform", img, digest)
	}
	types := map[string]bool{}
	for _, d := range wm.Manifests[1:] {
		types[d.ArtifactType] = imageref.IsAttachment(d)
	}
	if !types[attest.SBOMMediaType] || !types[attest.ProvenanceMediaType] {
		t.Errorf("referrers %+v, want an SBOM and a provenance, platform unknown/unknown", wm.Manifests[1:])
	}
	return wm.Manifests[1:]
}

// sameFiles: the tar holds exactly the folder's files, byte for byte.
func sameFiles(t *testing.T, dir, tarFile string) {
	t.Helper()
	f, err := os.Open(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inTar := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			inTar[h.Name] = b
		}
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		if !bytes.Equal(inTar[filepath.ToSlash(rel)], b) {
			t.Errorf("%s differs between the folder and the OCI tar", rel)
		}
		n++
		return nil
	})
	if n != len(inTar) {
		t.Errorf("the folder has %d files, the OCI tar %d", n, len(inTar))
	}
}
