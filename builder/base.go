package builder

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// baseImage is the locked base, resolved.
type baseImage struct {
	written string       // graft.toml's base as written (machine-independent, for labels)
	ref     imageref.Ref // pinned by the locked digest
	digest  v1.Hash
	index   v1.ImageIndex // nil for a single-platform base
	indexMT types.MediaType
	cands   []*basePlatform // every platform it has, loaded
}

// basePlatform is one platform's image of the base.
type basePlatform struct {
	platform   v1.Platform
	image      v1.Image
	digest     v1.Hash
	manifestMT types.MediaType
	layerMT    types.MediaType
	config     *v1.ConfigFile
	layers     []contract.LayerInfo // the base's layers, as the manifest and config name them
	uid, gid   int
	ref        imageref.Ref // the platform's manifest by digest, for a StepRunner
}

func (bp *basePlatform) name() string { return contract.Platform(bp.platform) }

// resolveBase reads the base by its locked digest and every platform it has. The manifests and
// configs are checked against their digests here: a layout's index.json or a parent index names
// a blob, but the file under that name could hold anything, and the config decides the owner
// of every plugin file.
func resolveBase(ctx context.Context, p *lockfile.Project, ropts []imageref.Option) (*baseImage, error) {
	ref, err := p.BaseRef()
	if err != nil {
		return nil, err
	}
	locked := p.Lock.Base.Digest
	if _, err := v1.NewHash(locked); err != nil {
		return nil, usererr.New("%s: base digest %q is not sha256:<hex>; run `graft lock`", filepath.Join(p.Dir, lockfile.LockFile), locked)
	}
	pinned := ref
	if ref.Kind != imageref.DockerArchive {
		pinned = ref.Pinned(locked)
	}
	res, err := pinned.Resolve(ctx, ropts...)
	if err != nil {
		return nil, fmt.Errorf("base image %s (locked at %s) cannot be read: %w; if it moved or was deleted, "+
			"point graft.toml's base at where it is now and run `graft lock`", p.Site.Base, locked, err)
	}
	if res.Digest.String() != locked {
		return nil, usererr.New("base image %s is now %s but graft.lock has %s; run `graft lock` to build on the new base",
			p.Site.Base, res.Digest, locked)
	}
	if err := checkBaseVersion(p, ref, res); err != nil {
		return nil, err
	}
	b := &baseImage{written: p.Site.Base, ref: pinned, digest: res.Digest, index: res.Index, indexMT: res.MediaType}
	if err := checkManifest(manifestOf(res), res.Digest); err != nil {
		return nil, fmt.Errorf("base image %s: %w", p.Site.Base, err)
	}
	if err := b.loadPlatforms(res); err != nil {
		return nil, err
	}
	for _, bp := range b.cands {
		if err := bp.load(p.Site.Owner, pinned); err != nil {
			return nil, fmt.Errorf("base image %s, %s: %w", p.Site.Base, bp.name(), err)
		}
	}
	return b, nil
}

// rawManifest is what an index or an image has in common: its manifest's bytes.
type rawManifest interface{ RawManifest() ([]byte, error) }

func manifestOf(res *imageref.Resolved) rawManifest {
	if res.Index != nil {
		return res.Index
	}
	return res.Image
}

// checkManifest checks that m's manifest bytes are those of digest want.
func checkManifest(m rawManifest, want v1.Hash) error {
	raw, err := m.RawManifest()
	if err != nil {
		return err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != want {
		return fmt.Errorf("manifest %s holds other bytes (sha256 %s)", want, got.Hex)
	}
	return nil
}

// loadPlatforms lists the base's images with their platforms.
func (b *baseImage) loadPlatforms(res *imageref.Resolved) error {
	if res.Image != nil {
		cf, err := res.Image.ConfigFile()
		if err != nil {
			return fmt.Errorf("base image config: %w", err)
		}
		if cf.OS == "" || cf.Architecture == "" {
			// graft picks graft-launcher by platform; guessing one would ship a binary that may not run.
			return usererr.New("base image %s declares no platform (its config has os %q, architecture %q); "+
				"graft needs it to pick the graft-launcher binary: give the base image its platform (e.g. crane mutate --set-platform linux/amd64)",
				b.written, cf.OS, cf.Architecture)
		}
		b.cands = append(b.cands, &basePlatform{image: res.Image, digest: res.Digest, platform: contract.ConfigPlatform(cf)})
		return nil
	}
	m, err := res.Index.IndexManifest()
	if err != nil {
		return fmt.Errorf("base image index: %w", err)
	}
	for _, d := range m.Manifests {
		// Attestations and other artifacts ride in indexes as platform unknown/unknown.
		if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.OS == "unknown" {
			continue
		}
		img, err := res.Index.Image(d.Digest)
		if err == nil {
			err = checkManifest(img, d.Digest)
		}
		if err != nil {
			return fmt.Errorf("base image %s, %s: %w", b.written, contract.Platform(*d.Platform), err)
		}
		b.cands = append(b.cands, &basePlatform{image: img, digest: d.Digest, platform: *d.Platform})
	}
	return nil
}

// match picks the base's images for the wanted platforms, in that order (all when none wanted).
func (b *baseImage) match(wanted []string) ([]*basePlatform, error) {
	if len(wanted) == 0 {
		return b.cands, nil
	}
	var have []string
	for _, c := range b.cands {
		have = append(have, c.name())
	}
	var out []*basePlatform
	for _, w := range wanted {
		sp, err := v1.ParsePlatform(w)
		if err != nil {
			return nil, usererr.New("platform %q: %v; write os/arch[/variant], e.g. linux/amd64", w, err)
		}
		found := false
		for _, c := range b.cands {
			if c.platform.Satisfies(*sp) {
				out, found = append(out, c), true
				break
			}
		}
		if !found {
			return nil, usererr.New("platform %s is not in the base image %s (it has: %s)", contract.Platform(*sp), b.written, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// load reads the platform's manifest and config (checked against its digest), describes its
// layers and decides the owner of added files.
func (bp *basePlatform) load(owner string, pinned imageref.Ref) error {
	var err error
	if bp.manifestMT, err = bp.image.MediaType(); err != nil {
		return err
	}
	bp.layerMT = types.OCILayer
	if bp.manifestMT == types.DockerManifestSchema2 {
		bp.layerMT = types.DockerLayer
	}
	m, err := bp.image.Manifest()
	if err != nil {
		return err
	}
	raw, err := bp.image.RawConfigFile()
	if err != nil {
		return err
	}
	if got, n, _ := v1.SHA256(bytes.NewReader(raw)); got != m.Config.Digest || n != m.Config.Size {
		return fmt.Errorf("config %s holds other bytes (sha256 %s, %d bytes)", m.Config.Digest, got.Hex, n)
	}
	if bp.config, err = v1.ParseConfigFile(bytes.NewReader(raw)); err != nil {
		return err
	}
	if len(bp.config.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("its manifest has %d layers, its config %d diff IDs", len(m.Layers), len(bp.config.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		bp.layers = append(bp.layers, contract.LayerInfo{Digest: l.Digest, DiffID: bp.config.RootFS.DiffIDs[i],
			Kind: contract.KindBase, Platform: bp.name()})
	}
	if owner == "" && isNumericOwner(bp.config.Config.User) {
		owner = bp.config.Config.User
	}
	bp.uid, bp.gid = parseOwner(owner)
	bp.ref = pinned.Pinned(bp.digest.String())
	return nil
}

func isNumericOwner(s string) bool {
	uid, gid, ok := strings.Cut(s, ":")
	_, e1 := strconv.ParseUint(uid, 10, 32)
	_, e2 := strconv.ParseUint(gid, 10, 32)
	return ok && e1 == nil && e2 == nil
}

// parseOwner reads a validated "uid:gid"; "" is root.
func parseOwner(s string) (int, int) {
	if !isNumericOwner(s) {
		return 0, 0
	}
	uid, gid, _ := strings.Cut(s, ":")
	u, _ := strconv.Atoi(uid)
	g, _ := strconv.Atoi(gid)
	return u, g
}
