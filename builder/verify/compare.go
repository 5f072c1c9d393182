package verify

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/contract"
)

// comparison is one rebuild compared with the examined image.
type comparison struct {
	plan    *builder.Plan
	built   *contract.Result
	skipped map[string]bool // plugins whose steps were not run
	// manifestless is a subject that keeps no manifest (a docker tar, the Docker Engine): its
	// layers are known by their diff IDs, its blobs may be stored uncompressed.
	manifestless bool
	diffs        []Difference
	notes        []Difference
	base         *BaseChange
}

func (c *comparison) diff(platform, format string, args ...any) {
	c.diffs = append(c.diffs, Difference{Platform: platform, Text: fmt.Sprintf(format, args...)})
}

func (c *comparison) run(ex *examined) error {
	if ex.index != nil {
		c.compareIndex(ex)
	}
	for _, pi := range ex.images {
		want, err := c.built.PlatformImage(pi.name)
		if err != nil {
			c.diff(pi.name, "%v", err)
			continue
		}
		c.manifestless = ex.subj.Manifestless
		if err := c.compareImage(pi, want, ex.subj.Manifestless); err != nil {
			return err
		}
	}
	if len(c.diffs) == 0 && ex.index != nil && c.built.Index != nil {
		if got := sha256Of(ex.indexRaw); got != c.built.Digest {
			c.diff("", "index differs: image has %s, %s builds %s", got, lockName, c.built.Digest)
		}
	}
	return nil
}

const lockName = "graft.lock"

// compareIndex checks the index's bytes against its digest and compares its fields and entries
// with the rebuilt index's; each image it lists is compared on its own.
func (c *comparison) compareIndex(ex *examined) {
	if got := sha256Of(ex.indexRaw); !isZero(ex.subj.Digest) && got != ex.subj.Digest {
		c.diff("", "index blob %s holds other bytes (sha256 %s)", ex.subj.Digest, got.Hex)
	}
	if c.built.Index == nil {
		c.diff("", "image is an index, %s builds a single image (the base is one)", lockName)
		return
	}
	want, err := c.built.Index.IndexManifest()
	if err != nil {
		c.diff("", "rebuilt index: %v", err)
		return
	}
	have := ex.index
	c.field("", "index media type", have.MediaType, want.MediaType)
	c.field("", "index schema version", have.SchemaVersion, want.SchemaVersion)
	c.field("", "index subject", have.Subject, want.Subject)
	c.annotations("", "index", have.Annotations, want.Annotations)
	if have.Annotations[contract.LabelBaseDigest] != want.Annotations[contract.LabelBaseDigest] && have.Annotations[contract.LabelBaseDigest] != "" {
		c.base = &BaseChange{Name: want.Annotations[contract.LabelBaseName],
			Image: have.Annotations[contract.LabelBaseDigest], Lock: want.Annotations[contract.LabelBaseDigest]}
	}
	for i := range max(len(have.Manifests), len(want.Manifests)) {
		switch {
		case i >= len(want.Manifests):
			d := have.Manifests[i]
			c.diff("", "index entry %d (%s %s) is not built from %s", i, d.MediaType, d.Digest, lockName)
		case i >= len(have.Manifests):
			c.diff("", "index entry %d missing: should be %s", i, describePlatform(want.Manifests[i].Platform))
		default:
			h, w := have.Manifests[i], want.Manifests[i]
			what := fmt.Sprintf("index entry %d (%s)", i, describePlatform(w.Platform))
			c.field("", what+" platform", describePlatform(h.Platform), describePlatform(w.Platform))
			c.descriptor("", what, h, w, false)
		}
	}
}

func describePlatform(p *v1.Platform) string {
	if p == nil {
		return "no platform"
	}
	return contract.Platform(*p)
}

// compareImage compares one platform's image with the rebuilt one, blob by blob.
func (c *comparison) compareImage(pi platformImage, want v1.Image, manifestless bool) error {
	before, notesBefore := len(c.diffs), len(c.notes)
	raw, err := pi.img.RawManifest()
	if err != nil {
		c.diff(pi.name, "manifest cannot be read: %v", err)
		return nil
	}
	got := sha256Of(raw)
	if !isZero(pi.desc.Digest) && got != pi.desc.Digest {
		c.diff(pi.name, "manifest blob %s holds other bytes (sha256 %s)", pi.desc.Digest, got.Hex)
	}
	if pi.desc.Size != 0 && pi.desc.Size != int64(len(raw)) {
		c.diff(pi.name, "manifest is %d bytes, the index says %d", len(raw), pi.desc.Size)
	}
	have, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		c.diff(pi.name, "manifest cannot be parsed: %v", err)
		return nil
	}
	wantDigest, err := want.Digest()
	if err != nil {
		return err
	}
	wm, err := want.Manifest()
	if err != nil {
		return err
	}
	if manifestless {
		wm = dockerForm(wm)
	}
	c.manifestFields(pi.name, have, wm)
	hcf, ok := c.config(pi, have)
	if !ok {
		return nil
	}
	wcf, err := want.ConfigFile()
	if err != nil {
		return err
	}
	c.layers(pi, have, hcf, wm)
	c.labels(pi.name, hcf, wcf)
	// A docker tar or the Docker Engine keeps no manifest and may store its layers
	// uncompressed: the config (its digest is Docker's image ID, its diff IDs pin every layer's
	// content, each hashed above) is what must be the lock's.
	if manifestless {
		if len(c.diffs) == before && len(c.notes) == notesBefore && have.Config.Digest != wm.Config.Digest {
			c.diff(pi.name, "image config differs (entrypoint, environment, history or healthcheck): image has %s, should be %s",
				have.Config.Digest, wm.Config.Digest)
		}
		return nil
	}
	if len(c.diffs) > before || len(c.notes) > notesBefore {
		return nil // a layer not recomputed changes the config and the manifest too
	}
	if have.Config.Digest != wm.Config.Digest {
		c.diff(pi.name, "image config differs (entrypoint, environment, history or healthcheck): image has %s, should be %s",
			have.Config.Digest, wm.Config.Digest)
		return nil
	}
	// Nothing above explains a difference the manifest's bytes still show (a field graft does
	// not know, another JSON encoding): the digest decides.
	if got != wantDigest {
		c.diff(pi.name, "manifest differs: image has %s, %s builds %s", got, lockName, wantDigest)
	}
	return nil
}

// dockerForm is the manifest a docker save tar's reader makes up for the image m: Docker media
// types, no annotations (the tar keeps only the config and the layers).
func dockerForm(m *v1.Manifest) *v1.Manifest {
	d := &v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
		Config: v1.Descriptor{MediaType: types.DockerConfigJSON, Size: m.Config.Size, Digest: m.Config.Digest}}
	for _, l := range m.Layers {
		d.Layers = append(d.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: l.Size, Digest: l.Digest})
	}
	return d
}

// manifestFields compares what a manifest holds besides its layers.
func (c *comparison) manifestFields(platform string, have, want *v1.Manifest) {
	c.field(platform, "manifest media type", have.MediaType, want.MediaType)
	c.field(platform, "manifest schema version", have.SchemaVersion, want.SchemaVersion)
	c.field(platform, "manifest artifact type", have.ArtifactType, want.ArtifactType)
	c.field(platform, "manifest subject", have.Subject, want.Subject)
	c.annotations(platform, "manifest", have.Annotations, want.Annotations)
	// Another config has another size: its differences are named from its content instead.
	c.descriptor(platform, "config descriptor", have.Config, want.Config, have.Config.Digest == want.Config.Digest)
}

// config reads the image's config and checks its bytes against the manifest's descriptor.
func (c *comparison) config(pi platformImage, m *v1.Manifest) (*v1.ConfigFile, bool) {
	raw, err := pi.img.RawConfigFile()
	if err != nil {
		c.diff(pi.name, "config blob %s cannot be read: %v", m.Config.Digest, err)
		return nil, false
	}
	// Its size is the descriptor's when the digest matches; the descriptor's size is compared
	// with the rebuilt one's.
	if got := sha256Of(raw); got != m.Config.Digest {
		c.diff(pi.name, "config blob %s holds other bytes (sha256 %s)", m.Config.Digest, got.Hex)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		c.diff(pi.name, "config cannot be parsed: %v", err)
		return nil, false
	}
	return cf, true
}

// layers compares the image's layers with what the lock builds, position by position, and
// checks the bytes of every layer whose descriptor matches.
func (c *comparison) layers(pi platformImage, have *v1.Manifest, hcf *v1.ConfigFile, want *v1.Manifest) {
	infos := c.built.PlatformLayers(pi.name)
	if len(have.Layers) != len(hcf.RootFS.DiffIDs) {
		c.diff(pi.name, "manifest lists %d layers, config %d diff IDs", len(have.Layers), len(hcf.RootFS.DiffIDs))
	}
	for i := range max(len(have.Layers), len(infos)) {
		if i >= len(infos) {
			c.diff(pi.name, "layer %d (%s) is not built from %s", i, have.Layers[i].Digest, lockName)
			continue
		}
		info, what := infos[i], c.describe(infos[i])
		if info.Kind == contract.KindPlugin && c.skipped[info.Plugin] {
			c.notes = append(c.notes, Difference{Platform: pi.name, Text: fmt.Sprintf(
				"layer %d (plugin %s) not recomputed: its [build] steps need BuildKit; pass --buildkit ADDR or set BUILDKIT_HOST", i, info.Plugin)})
			if i < len(have.Layers) {
				c.blob(pi, i, have.Layers[i], hcf)
			}
			continue
		}
		haveID, wantID, idName := c.layerID(have, hcf, i), info.Digest, ""
		if c.manifestless {
			wantID, idName = info.DiffID, "diff ID "
		}
		switch {
		case i >= len(have.Layers):
			c.diff(pi.name, "layer %d missing: should be %s%s, %s", i, idName, wantID, what)
		case haveID != wantID:
			c.diff(pi.name, "layer %d differs: image has %s%s, should be %s, %s", i, idName, haveID, wantID, what)
		default:
			before := len(c.diffs)
			c.descriptor(pi.name, fmt.Sprintf("layer %d (%s)", i, what), have.Layers[i], want.Layers[i], !c.manifestless)
			if len(c.diffs) == before {
				c.blob(pi, i, have.Layers[i], hcf)
			}
		}
	}
}

// layerID is what names layer i: its digest, or where the subject keeps no manifest, the
// config's diff ID (zero when the config lists fewer).
func (c *comparison) layerID(m *v1.Manifest, cf *v1.ConfigFile, i int) v1.Hash {
	switch {
	case !c.manifestless && i < len(m.Layers):
		return m.Layers[i].Digest
	case c.manifestless && i < len(cf.RootFS.DiffIDs):
		return cf.RootFS.DiffIDs[i]
	}
	return v1.Hash{}
}

// blob hashes layer i's bytes: compressed against its digest and size, uncompressed against
// the config's diff ID. A subject without a manifest has only the latter.
func (c *comparison) blob(pi platformImage, i int, d v1.Descriptor, cf *v1.ConfigFile) {
	if c.manifestless {
		c.content(pi, i, cf)
		return
	}
	l, err := pi.img.LayerByDigest(d.Digest)
	if err != nil {
		c.diff(pi.name, "layer %d: blob %s cannot be read: %v", i, d.Digest, err)
		return
	}
	sum, err := hashLayer(l)
	if sum.digest != d.Digest || sum.size != d.Size {
		c.diff(pi.name, "layer %d: blob %s (%d bytes) holds other bytes (sha256 %s, %d bytes)", i, d.Digest, d.Size, sum.digest.Hex, sum.size)
		return
	}
	if err != nil {
		c.diff(pi.name, "layer %d: blob %s cannot be read: %v", i, d.Digest, err)
		return
	}
	if i >= len(cf.RootFS.DiffIDs) || sum.diffID != cf.RootFS.DiffIDs[i] {
		c.diff(pi.name, "layer %d: its content's diff ID is %s, the config does not say so", i, sum.diffID)
	}
}

// content hashes layer i's tar against the config's diff ID, reading it as the subject stores
// it (a docker tar may hold it uncompressed).
func (c *comparison) content(pi platformImage, i int, cf *v1.ConfigFile) {
	if i >= len(cf.RootFS.DiffIDs) {
		c.diff(pi.name, "layer %d: the config lists no diff ID for it", i)
		return
	}
	id := cf.RootFS.DiffIDs[i]
	l, err := pi.img.LayerByDiffID(id)
	if err == nil {
		var rc io.ReadCloser
		if rc, err = l.Uncompressed(); err == nil {
			got, _, herr := v1.SHA256(rc)
			rc.Close()
			if err = herr; err == nil && got != id {
				c.diff(pi.name, "layer %d: its content has diff ID %s, the config says %s", i, got, id)
				return
			}
		}
	}
	if err != nil {
		c.diff(pi.name, "layer %d (diff ID %s) cannot be read: %v", i, id, err)
	}
}

// describe says what a layer should hold.
func (c *comparison) describe(info contract.LayerInfo) string {
	p := c.plan.Project()
	switch info.Kind {
	case contract.KindBase:
		return "a layer of the base " + p.Lock.Base.Digest
	case contract.KindPlugin:
		pk := p.PluginLock(info.Plugin)
		if pk == nil {
			return "plugin " + info.Plugin
		}
		what := fmt.Sprintf("plugin %s at commit %s (tree %s", pk.Name, pk.Commit, pk.Tree)
		switch {
		case pk.Local != "":
			what = fmt.Sprintf("plugin %s from the site's folder %s (tree %s", pk.Name, pk.Local, pk.Tree)
		case pk.IsArtifact():
			what = fmt.Sprintf("plugin %s, %s %s %s (tree %s", pk.Name, pk.Kind, pk.SourceName(), pk.Digest, pk.Tree)
		}
		if pk.Path != "" {
			what += ", path " + pk.Path
		}
		return what + ") in " + p.Target(*pk)
	case contract.KindLauncher:
		return info.Name() + " at " + builder.LauncherPath
	case contract.KindLauncherConfig:
		return "/etc/graft/launcher.toml merged from graft.toml and the plugins"
	}
	return info.Name()
}

// labels compares graft's labels; a differing base digest is the report's base change.
func (c *comparison) labels(platform string, have, want *v1.ConfigFile) {
	h, w := have.Config.Labels, want.Config.Labels
	var lines []string
	for _, k := range contract.Labels {
		if h[k] != w[k] {
			lines = append(lines, fmt.Sprintf("label %s: image has %q, should be %q", k, h[k], w[k]))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		c.diff(platform, "%s", l)
	}
	if c.base == nil && h[contract.LabelBaseDigest] != w[contract.LabelBaseDigest] && h[contract.LabelBaseDigest] != "" {
		c.base = &BaseChange{Name: w[contract.LabelBaseName], Image: h[contract.LabelBaseDigest], Lock: w[contract.LabelBaseDigest]}
	}
}

// field records a difference in one field.
func (c *comparison) field(platform, what string, have, want any) {
	if reflect.DeepEqual(have, want) {
		return
	}
	c.diff(platform, "%s: image has %s, should be %s", what, show(have), show(want))
}

func show(v any) string {
	switch x := v.(type) {
	case *v1.Descriptor:
		if x == nil {
			return "none"
		}
		return fmt.Sprintf("%s %s", x.MediaType, x.Digest)
	case string:
		if x == "" {
			return "none"
		}
		return fmt.Sprintf("%q", x)
	case types.MediaType:
		if x == "" {
			return "none"
		}
		return string(x)
	}
	return fmt.Sprint(v)
}

// annotations records each annotation that differs.
func (c *comparison) annotations(platform, what string, have, want map[string]string) {
	keys := slices.Sorted(maps.Keys(have))
	for k := range want {
		if _, ok := have[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.field(platform, what+" annotation "+k, have[k], want[k])
	}
}

// descriptor compares what a descriptor says besides the digest (which the caller compares or
// which follows from the content compared elsewhere).
func (c *comparison) descriptor(platform, what string, have, want v1.Descriptor, withSize bool) {
	c.field(platform, what+" media type", have.MediaType, want.MediaType)
	if withSize {
		c.field(platform, what+" size", have.Size, want.Size)
	}
	c.field(platform, what+" urls", strings.Join(have.URLs, " "), strings.Join(want.URLs, " "))
	c.field(platform, what+" artifact type", have.ArtifactType, want.ArtifactType)
	c.field(platform, what+" embedded data", len(have.Data), len(want.Data))
	c.annotations(platform, what, have.Annotations, want.Annotations)
}

func isZero(h v1.Hash) bool { return h == v1.Hash{} }
