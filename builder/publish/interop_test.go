package publish_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/tooltest"
	"github.com/graft-build/graft/lockfile"
)

// The outputs of the tool table in docs/reference/outputs.md, by column heading.
const (
	outLayout      = "layout folder"
	outPlainLayout = "plain layout"
	outOCITar      = "OCI tar"
	outDockerTar   = "docker tar"
	outReferrers   = "registry, referrers API"
	outFallback    = "registry, tag fallback"
	outMulti       = "multi-platform layout"
)

// outputs is one of every output kind graft writes, of one image.
type outputs struct {
	dir      string
	layout   string // with SBOM and provenance
	plain    string // without attachments
	ociTar   string
	dockTar  string
	referrer string // HOST/lib/app:v1 on a registry with the referrers API
	fallback string // the same on CNCF distribution (no referrers API)
	imageID  string // the config digest, which every reader must find
	digest   string // the image digest graft build prints
	multi    string // a layout of a linux/amd64 + linux/arm64 image, with attachments
	multiID  string // its linux/amd64 image's config digest
	pub      string // the cosign public key the image and its attestations are signed with
}

const tableTag = "v1"

func writeOutputs(t *testing.T) *outputs {
	s := site(t, "linux/amd64")
	p := s.Load()
	res := build(t, p, "amd64")
	priv, pub := buildtest.CosignKeyPair(t, "pw")
	signer, err := sign.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	a := artifact(res)
	a.Attachments = attachments(t, p, res, signer, "amd64")
	dir := t.TempDir()
	id, _ := res.Image.ConfigName()
	o := &outputs{dir: dir, layout: filepath.Join(dir, "layout"), plain: filepath.Join(dir, "plain"),
		ociTar: filepath.Join(dir, "image.tar"), dockTar: filepath.Join(dir, "docker.tar"),
		referrer: registrytest.GGCR(t, true) + "/lib/app:" + tableTag,
		fallback: registrytest.Distribution(t) + "/lib/app:" + tableTag,
		imageID:  id.String(), digest: res.Digest.String(), multi: filepath.Join(dir, "multi"), pub: pub}
	opts := publish.Options{DefaultName: "registry.test/lib/app:" + tableTag}
	for _, spec := range []string{"type=oci,dest=" + o.layout, "type=oci,dest=" + o.ociTar,
		"type=docker,dest=" + o.dockTar, "type=registry,name=" + o.referrer, "type=registry,name=" + o.fallback} {
		publishTo(t, spec, opts, a)
	}
	publishTo(t, "type=oci,dest="+o.plain, opts, artifact(res))

	ms := site(t, "linux/amd64", "linux/arm64")
	mp := ms.Load()
	mres := build(t, mp, "amd64", "arm64")
	ma := artifact(mres)
	ma.Attachments = attachments(t, mp, mres, signer, "amd64", "arm64")
	publishTo(t, "type=oci,dest="+o.multi, opts, ma)
	im, _ := mres.Index.IndexManifest()
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Architecture == "amd64" {
			img, _ := mres.Index.Image(d.Digest)
			mid, _ := img.ConfigName()
			o.multiID = mid.String()
		}
	}
	return o
}

// attachments are the documents graft build attaches (attest.Attach, signed as with
// --sign-key): the SPDX SBOM, the SBOM and provenance attestations as DSSE envelopes, and the
// image's cosign signature.
func attachments(t *testing.T, p *lockfile.Project, res *contract.Result, signer *sign.Signer, archs ...string) []publish.Attachment {
	t.Helper()
	atts, err := attest.Attach(p, res, buildtest.Launchers(t, archs...),
		attest.AttachOptions{SBOM: true, Provenance: true, Signer: signer, Name: "registry.test/lib/app:" + tableTag})
	if err != nil {
		t.Fatal(err)
	}
	return atts
}

// TestToolsReadOutputs runs the standard tools against every output kind graft writes and
// checks each cell of the table in docs/reference/outputs.md: "yes" must read, "no" must not.
func TestToolsReadOutputs(t *testing.T) {
	table := toolTable(t, "../../docs/reference/outputs.md")
	o := writeOutputs(t)
	for tool, cells := range table {
		check, ok := toolChecks[tool]
		if !ok {
			t.Errorf("the table has a row for %q, which the test does not know", tool)
			continue
		}
		t.Run(tool, func(t *testing.T) {
			bin := tooltest.Require(t, check.tool)
			for output, want := range cells {
				err := check.read(t, bin, o, output)
				switch {
				case want && err != nil:
					t.Errorf("%s on %s: the table says yes, but: %v", tool, output, err)
				case !want && err == nil:
					t.Errorf("%s on %s: the table says no, but it reads", tool, output)
				}
			}
		})
	}
	for tool := range toolChecks {
		if _, ok := table[tool]; !ok {
			t.Errorf("the table has no row for %s", tool)
		}
	}
}

// toolTable reads the table under "## Which tool reads which output": tool -> output -> yes.
func toolTable(t *testing.T, file string) map[string]map[string]bool {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var heads []string
	table := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if len(heads) > 0 && len(table) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cells[0] == "tool":
			heads = cells
		case len(heads) == 0 || strings.HasPrefix(cells[0], "-"):
		default:
			if len(cells) != len(heads) {
				t.Fatalf("%s: row %q has %d cells, the heading %d", file, line, len(cells), len(heads))
			}
			row := map[string]bool{}
			for i := 2; i < len(cells); i++ {
				if cells[i] != "yes" && cells[i] != "no" {
					t.Fatalf("%s: cell %q of %s: write yes or no", file, cells[i], cells[0])
				}
				row[heads[i]] = cells[i] == "yes"
			}
			table[strings.Fields(cells[0])[0]] = row
		}
	}
	if len(table) == 0 {
		t.Fatalf("%s: no tool table (a heading row starting with | tool |)", file)
	}
	for _, h := range heads[2:] {
		switch h {
		case outLayout, outPlainLayout, outOCITar, outDockerTar, outReferrers, outFallback, outMulti:
		default:
			t.Fatalf("%s: unknown output column %q", file, h)
		}
	}
	return table
}

type toolCheck struct {
	tool tooltest.Tool
	read func(t *testing.T, bin string, o *outputs, output string) error
}

var toolChecks = map[string]toolCheck{
	"skopeo": {tooltest.Skopeo, skopeoReads},
	"crane":  {tooltest.Crane, craneReads},
	"syft":   {tooltest.Syft, syftReads},
	"umoci":  {tooltest.Umoci, umociReads},
	"oras":   {tooltest.Oras, orasReads},
	"docker": {tooltest.Docker, dockerReads},
	"cosign": {tooltest.Cosign, cosignReads},
}

// run runs a tool; an error carries its output.
func run(bin string, env []string, args ...string) (string, error) {
	out, errOut, err := tooltest.ExecEnv(env, bin, args...)
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err,
			tooltest.Tail(append(out, errOut...), 5))
	}
	return string(out), nil
}

func skopeoReads(t *testing.T, bin string, o *outputs, output string) error {
	src := map[string]string{outLayout: "oci:" + o.layout, outPlainLayout: "oci:" + o.plain,
		outOCITar: "oci-archive:" + o.ociTar, outDockerTar: "docker-archive:" + o.dockTar,
		outReferrers: "docker://" + o.referrer, outFallback: "docker://" + o.fallback, outMulti: "oci:" + o.multi}[output]
	out, err := run(bin, nil, "inspect", "--tls-verify=false", "--override-os", "linux", "--override-arch", "amd64", src)
	if err != nil {
		return err
	}
	var got struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		return fmt.Errorf("skopeo inspect %s: %v", src, err)
	}
	if got.Labels["org.graft.plugins"] == "" {
		return fmt.Errorf("skopeo inspect %s found an image without graft's labels: %s", src, out)
	}
	return nil
}

func craneReads(t *testing.T, bin string, o *outputs, output string) error {
	switch output {
	case outLayout, outPlainLayout, outMulti:
		src := map[string]string{outLayout: o.layout, outPlainLayout: o.plain, outMulti: o.multi}[output]
		ref := strings.Replace(o.referrer, "/lib/app:", "/lib/pushed:", 1) + "-" + strings.ReplaceAll(output, " ", "-")
		if _, err := run(bin, nil, "push", src, ref); err != nil {
			return err
		}
		_, err := run(bin, nil, "validate", "--remote", ref)
		return err
	case outOCITar, outDockerTar:
		_, err := run(bin, nil, "validate", "--tarball", map[string]string{outOCITar: o.ociTar, outDockerTar: o.dockTar}[output])
		return err
	}
	_, err := run(bin, nil, "validate", "--remote", map[string]string{outReferrers: o.referrer, outFallback: o.fallback}[output])
	return err
}

func syftReads(t *testing.T, bin string, o *outputs, output string) error {
	src := map[string]string{outLayout: "oci-dir:" + o.layout, outPlainLayout: "oci-dir:" + o.plain,
		outOCITar: "oci-archive:" + o.ociTar, outDockerTar: "docker-archive:" + o.dockTar,
		outReferrers: "registry:" + o.referrer, outFallback: "registry:" + o.fallback, outMulti: "oci-dir:" + o.multi}[output]
	want := o.imageID
	if output == outMulti {
		want = o.multiID
	}
	env := []string{"SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false",
		"SYFT_CACHE_DIR=" + filepath.Join(o.dir, "syft-cache"), "HOME=" + o.dir}
	out, err := run(bin, env, "scan", "-q", "--platform", "linux/amd64", "-o", "syft-json", src)
	if err != nil {
		return err
	}
	var got struct {
		Source struct {
			Metadata struct {
				ImageID        string `json:"imageID"`
				ManifestDigest string `json:"manifestDigest"`
			} `json:"metadata"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		return fmt.Errorf("syft scan %s: %v", src, err)
	}
	if got.Source.Metadata.ImageID != want {
		return fmt.Errorf("syft scan %s read image %s, want %s", src, got.Source.Metadata.ImageID, want)
	}
	return nil
}

func umociReads(t *testing.T, bin string, o *outputs, output string) error {
	src := map[string]string{outLayout: o.layout, outPlainLayout: o.plain, outOCITar: o.ociTar,
		outDockerTar: o.dockTar, outReferrers: o.referrer, outFallback: o.fallback, outMulti: o.multi}[output]
	bundle := filepath.Join(o.dir, "umoci-"+strings.NewReplacer(" ", "-", ",", "").Replace(output))
	if _, err := run(bin, nil, "unpack", "--rootless", "--image", src+":"+tableTag, bundle); err != nil {
		return err
	}
	found := false
	filepath.WalkDir(filepath.Join(bundle, "rootfs"), func(p string, d fs.DirEntry, err error) error {
		found = found || (err == nil && d.Name() == "a.txt")
		return nil
	})
	if !found {
		return errors.New("umoci unpacked no plugin file a.txt")
	}
	return nil
}

// orasReads asks oras for the image's referrers: it must find the SBOM and the provenance by
// their artifactType. In a layout the tag names the index wrapping the image and its
// attachments; --platform takes oras to the image in it, as for any multi-platform image.
func orasReads(t *testing.T, bin string, o *outputs, output string) error {
	var target string
	var flags []string
	switch output {
	case outLayout, outPlainLayout, outOCITar, outDockerTar, outMulti:
		src := map[string]string{outLayout: o.layout, outPlainLayout: o.plain, outOCITar: o.ociTar, outDockerTar: o.dockTar, outMulti: o.multi}[output]
		target, flags = src+":"+tableTag, []string{"--oci-layout", "--platform", "linux/amd64"}
	default:
		target, flags = map[string]string{outReferrers: o.referrer, outFallback: o.fallback}[output], []string{"--plain-http"}
	}
	env := []string{"HOME=" + o.dir}
	out, err := run(bin, env, append([]string{"discover", "--format", "json", target}, flags...)...)
	if err != nil {
		return err
	}
	var tree struct {
		Referrers []struct {
			Digest, ArtifactType string
			Annotations          map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return fmt.Errorf("oras discover %s: %v", target, err)
	}
	// An attestation is a DSSE envelope: its predicateType annotation says which. Some
	// registries (ggcr's) list a referrer's config media type as its artifactType and leave
	// the annotations out: then the referrer's manifest says what it is.
	found := map[string]bool{}
	repo := target[:strings.LastIndexAny(target, ":@")]
	for _, r := range tree.Referrers {
		m := struct {
			ArtifactType string
			Annotations  map[string]string
		}{r.ArtifactType, r.Annotations}
		if r.ArtifactType == "application/vnd.oci.empty.v1+json" {
			raw, err := run(bin, env, append([]string{"manifest", "fetch", repo + "@" + r.Digest}, flags...)...)
			if err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				return fmt.Errorf("oras manifest fetch %s@%s: %v", repo, r.Digest, err)
			}
		}
		found[strings.TrimSpace(m.ArtifactType+" "+m.Annotations[sign.PredicateTypeAnnotation])] = true
	}
	for _, typ := range []string{attest.SBOMMediaType, sign.DSSEMediaType + " " + attest.SLSAProvenance, sign.DSSEMediaType + " " + attest.SPDXPredicate} {
		if !found[typ] {
			return fmt.Errorf("oras discover %s finds no %s: %s", target, typ, out)
		}
	}
	return nil
}

// dockerReads pulls (a layout after `crane push`, a registry) or loads (a tar) the image into
// the Docker Engine and checks it holds the linux/amd64 image graft built.
func dockerReads(t *testing.T, bin string, o *outputs, output string) error {
	if _, err := run(bin, nil, "version"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	want := o.imageID
	var ref string
	switch output {
	case outOCITar, outDockerTar:
		file := map[string]string{outOCITar: o.ociTar, outDockerTar: o.dockTar}[output]
		t.Cleanup(func() { run(bin, nil, "rmi", "-f", "registry.test/lib/app:"+tableTag) })
		if _, err := run(bin, nil, "load", "-i", file); err != nil {
			return err
		}
		ref = "registry.test/lib/app:" + tableTag
	case outReferrers, outFallback:
		ref = map[string]string{outReferrers: o.referrer, outFallback: o.fallback}[output]
	default:
		src := map[string]string{outLayout: o.layout, outPlainLayout: o.plain, outMulti: o.multi}[output]
		ref = strings.Replace(o.referrer, "/lib/app:", "/lib/docker-pull:", 1) + "-" + strings.ReplaceAll(output, " ", "-")
		if _, err := run(tooltest.Require(t, tooltest.Crane), nil, "push", src, ref); err != nil {
			return err
		}
		if output == outMulti {
			want = o.multiID
		}
	}
	if output != outOCITar && output != outDockerTar {
		t.Cleanup(func() { run(bin, nil, "rmi", "-f", ref) })
		if _, err := run(bin, nil, "pull", "--platform", "linux/amd64", ref); err != nil {
			return err
		}
	}
	id, err := run(bin, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		return err
	}
	if strings.TrimSpace(id) != want {
		return fmt.Errorf("docker holds %s as %s, want %s", ref, strings.TrimSpace(id), want)
	}
	return nil
}

// cosignReads verifies the image's signature and its provenance attestation with the public
// key: `cosign verify` and `cosign verify-attestation` (offline: no transparency log). cosign
// reads them from a registry's cosign tags; a local output is given as --local-image, the
// layout cosign itself writes with `cosign save`.
func cosignReads(t *testing.T, bin string, o *outputs, output string) error {
	home := filepath.Join(o.dir, "cosign-home")
	env := []string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf"), "SIGSTORE_NO_CACHE=true"}
	var target []string
	switch output {
	case outReferrers, outFallback:
		ref := map[string]string{outReferrers: o.referrer, outFallback: o.fallback}[output]
		target = []string{"--allow-http-registry", ref[:strings.LastIndex(ref, ":")] + "@" + o.digest}
	default:
		target = []string{"--local-image", map[string]string{outLayout: o.layout, outPlainLayout: o.plain, outOCITar: o.ociTar,
			outDockerTar: o.dockTar, outMulti: o.multi}[output]}
	}
	flags := []string{"--key", o.pub, "--insecure-ignore-tlog"}
	out, err := run(bin, env, append(append([]string{"verify"}, flags...), target...)...)
	if err != nil {
		return err
	}
	if output == outReferrers || output == outFallback {
		if !strings.Contains(out, o.digest) {
			return fmt.Errorf("cosign verify does not name %s: %s", o.digest, out)
		}
	}
	_, err = run(bin, env, append(append([]string{"verify-attestation", "--type", "slsaprovenance1"}, flags...), target...)...)
	return err
}
